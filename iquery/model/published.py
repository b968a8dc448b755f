"""Published iQuery checkpoints → a SeparationSystem checkpoint that this project loads.

The published training script keeps a checkpoint as three state dicts of the bare networks:
``sound_best.pth`` (the U-Net ``UnetIquery``), ``frame_best.pth`` (``ResnetDilated``: the dilated
ResNet-18 as ``features.*`` and its 3×3 head as ``fc``) and ``maskformer_best.pth`` (the query
transformer, ``TransformerPredictorMotion``, or ``TransformerPredictor`` for the no-motion
ablation). It never bundles the three into one file, so three dicts are what this reads. The
networks are saved unwrapped, without DataParallel's ``module.`` prefix; a prefix is stripped
anyway, since a dict re-saved from a wrapped network carries one.

Names. Every published module has one counterpart here, listed in :func:`name_rules` with the
tensor names below it carried over unchanged (``weight``, ``running_mean``, ``in_proj_weight``,
``out_proj.bias`` ...). The layouts agree tensor for tensor, with one change of form: the two
1×1 ``Conv1d`` projections (visual 32 → 256 ``upobj``, motion 1024 → 256 ``down``) are
``nn.Linear`` here (docs/method.md §7 q), so their weights lose the trailing kernel axis,
(256, C, 1) → (256, C). Every tensor is checked against the shape of a freshly built model.

Unused published modules, dropped by name (:func:`unused_modules`). The published decoder builds
each of its layers with all three attentions (query self-attention ``self_attn``, audio
cross-attention ``multihead_attn``, motion cross-attention ``cross_attn_motion``) and four
LayerNorms, and a flag picks what runs. In the motion model, layer 1 runs only
``cross_attn_motion`` (then ``norm4``) and the feed-forward (then ``norm3``): its ``self_attn``,
``multihead_attn``, ``norm1`` and ``norm2`` never see data. Layers 2–4 never run
``cross_attn_motion`` and ``norm4``. Those tensors get no gradient and keep their initial values;
our decoder layers are built with only what runs, so the converter drops them explicitly and
reports them. The no-motion predictor uses everything it holds. Deep supervision (the decoder
returning every layer's normalised output) and the positional encodings hold no tensors. Any
published tensor that neither maps nor is on that list is an error.

U-Net bias. The published ``UnetIquery`` builds every convolution without a bias, its last 3×3
(``upconv1``, the 32-channel embedding) included; our ``AudioUNet`` does the same (§7 a: it was
earlier versions of this project that had a bias there). There is therefore nothing to fold or
drop: the converted network computes the published U-Net's function. tests/test_published.py
measures it against a direct implementation of the published forward pass on random weights in
the published layout: the U-Net's embedding and latent agree to rounding (ours runs its maps
channels-last, so its convolutions sum in another order), and the mask logits to about 1e-6 of
their magnitude (the attention kernels sum in another order too).
A sound dict that does hold ``upconv1.bias`` (Sound of Pixels' U-Net has one there) is not a
published iQuery checkpoint and is refused: that bias would add the per-source constant m·b to
every mask logit, which the bias-free iQuery network cannot represent.

What the written checkpoint records beyond the weights: ``freeze_visual`` true (the published
ResNet was frozen; its BatchNorm running statistics are carried as saved, drifted by the
published training's train-mode BatchNorm, and they are what the published evaluation used too,
§7 h), and ``select_on: test`` in its data settings, since the published code kept the
checkpoint with the best SDR on the test pairs; evaluations of it then carry that note.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from iquery.model.iquery import IQuery, ModelConfig
from iquery.model.settings import TrainSettings, load_settings, run_settings
from iquery.model.shard_dataset import ClipSpec
from iquery.model.system import SeparationSystem
from iquery.model.training import model_config
from iquery.pipeline.core.errors import ConfigError
from iquery.pipeline.core.files import atomic_path
from iquery.pipeline.core.torch_files import CheckpointError, describe_contents, read_torch_file
from iquery.pipeline.datasets.indexes import AVE_CLASS_DIRS
from iquery.pipeline.stages.recipe import recipe

PARTS = ("sound", "frame", "maskformer")  # the published files, in the order they are read
MOTION_DIM = 1024  # channels of the published I3D motion tokens
# The query index of each class in the published datasets (their class-to-index tables).
PUBLISHED_CLASSES: dict[str, tuple[str, ...]] = {
    "music": (
        "accordion",
        "acoustic_guitar",
        "cello",
        "clarinet",
        "erhu",
        "flute",
        "saxophone",
        "trumpet",
        "tuba",
        "violin",
        "xylophone",
    ),
}
PUBLISHED_CLASSES["music21"] = PUBLISHED_CLASSES["music"] + (
    "bagpipe",
    "banjo",
    "bassoon",
    "congas",
    "drum",
    "electric_bass",
    "guzheng",
    "piano",
    "pipa",
    "ukulele",
)
# AVE's published order is its class folders' names, alphabetical (Accordion 0 ... Violin 27).
PUBLISHED_CLASSES["ave"] = tuple(sorted(AVE_CLASS_DIRS.values()))
DATA_PARALLEL_PREFIX = "module."


@dataclass(frozen=True)
class Rule:
    """One published module and the module of ours that holds the same tensors."""

    part: str  # the published state dict: sound, frame or maskformer
    published: str  # module path there
    ours: str  # module path in IQuery
    conv1d_to_linear: bool = False  # weight (out, in, 1) there, (out, in) here


@dataclass(frozen=True)
class Unused:
    """A published module whose tensors never take part in the forward pass."""

    part: str
    published: str
    why: str


def name_rules(config: ModelConfig) -> tuple[Rule, ...]:
    """Published module → ours, for the paper's networks at ``config``'s sizes."""
    depth = config.unet_depth
    rules = [Rule("sound", "bn0", "unet.input_norm")]
    # The published U-Net numbers its levels from 1 (outermost) to depth; ours counts from 0.
    for level in range(1, depth + 1):
        rules.append(Rule("sound", f"downconv{level}", f"unet.down.{level - 1}"))
        if 1 < level < depth:
            rules.append(Rule("sound", f"downnorm{level}", f"unet.down_norm.{level - 1}"))
        rules.append(Rule("sound", f"upconv{level}", f"unet.up.{level - 1}"))
        if level > 1:
            rules.append(Rule("sound", f"upnorm{level}", f"unet.up_norm.{level - 1}"))

    # Both keep torchvision's ResNet-18 children in order (conv1, bn1, relu, maxpool,
    # layer1..layer4) in one Sequential; ReLU (2) and max pool (3) hold no tensors.
    for index in (0, 1, 4, 5, 6, 7):
        rules.append(Rule("frame", f"features.{index}", f"visual.backbone.{index}"))
    rules.append(Rule("frame", "fc", "visual.head"))

    for i in range(config.enc_layers):
        layer, ours = f"transformer.encoder.layers.{i}", f"predictor.encoder.{i}"
        rules += [
            Rule("maskformer", f"{layer}.self_attn", f"{ours}.attn"),
            Rule("maskformer", f"{layer}.linear1", f"{ours}.ffn.lin1"),
            Rule("maskformer", f"{layer}.linear2", f"{ours}.ffn.lin2"),
            Rule("maskformer", f"{layer}.norm1", f"{ours}.norm1"),
            Rule("maskformer", f"{layer}.norm2", f"{ours}.norm2"),
        ]
    motion = config.motion_dim is not None
    for i in range(config.dec_layers):
        layer, ours = f"transformer.decoder.layers.{i}", f"predictor.decoder.{i}"
        if motion and i == 0:
            # The motion layer: its cross-attention reads the motion tokens.
            rules += [
                Rule("maskformer", f"{layer}.cross_attn_motion", f"{ours}.cross_attn"),
                Rule("maskformer", f"{layer}.norm4", f"{ours}.norm_cross"),
            ]
        else:
            rules += [
                Rule("maskformer", f"{layer}.self_attn", f"{ours}.self_attn"),
                Rule("maskformer", f"{layer}.norm1", f"{ours}.norm_self"),
                Rule("maskformer", f"{layer}.multihead_attn", f"{ours}.cross_attn"),
                Rule("maskformer", f"{layer}.norm2", f"{ours}.norm_cross"),
            ]
        rules += [
            Rule("maskformer", f"{layer}.linear1", f"{ours}.ffn.lin1"),
            Rule("maskformer", f"{layer}.linear2", f"{ours}.ffn.lin2"),
            Rule("maskformer", f"{layer}.norm3", f"{ours}.norm_ffn"),
        ]
    rules += [
        Rule("maskformer", "transformer.decoder.norm", "predictor.decoder_norm"),
        Rule("maskformer", "query_embed", "predictor.query_embed"),
        Rule("maskformer", "upobj", "predictor.visual_proj", conv1d_to_linear=True),
        Rule("maskformer", "mask_embed.layers.0", "predictor.mask_mlp.layers.0"),
        Rule("maskformer", "mask_embed.layers.1", "predictor.mask_mlp.layers.1"),
        Rule("maskformer", "mask_embed.layers.2", "predictor.mask_mlp.layers.2"),
    ]
    if motion:
        rules.append(Rule("maskformer", "down", "predictor.motion_proj", conv1d_to_linear=True))
    return tuple(rules)


def unused_modules(config: ModelConfig) -> tuple[Unused, ...]:
    """Published modules the forward pass never runs (see the module docstring)."""
    if config.motion_dim is None:
        return ()
    first = "transformer.decoder.layers.0"
    unused = [
        Unused("maskformer", f"{first}.self_attn", "decoder layer 1 runs motion attention only"),
        Unused("maskformer", f"{first}.norm1", "decoder layer 1 runs motion attention only"),
        Unused(
            "maskformer", f"{first}.multihead_attn", "decoder layer 1 runs motion attention only"
        ),
        Unused("maskformer", f"{first}.norm2", "decoder layer 1 runs motion attention only"),
    ]
    for i in range(1, config.dec_layers):
        layer = f"transformer.decoder.layers.{i}"
        why = f"decoder layer {i + 1} does not attend to motion"
        unused += [
            Unused("maskformer", f"{layer}.cross_attn_motion", why),
            Unused("maskformer", f"{layer}.norm4", why),
        ]
    return tuple(unused)


@dataclass
class Conversion:
    """Our model's state dict from the published ones, and what happened to each tensor."""

    state: dict[str, Tensor]  # IQuery's state dict (no "model." prefix)
    mapped: list[tuple[Rule, str, str]] = field(default_factory=list)  # rule, published, ours
    dropped: list[tuple[Unused, str]] = field(default_factory=list)  # module, published key


def _match(table: Mapping[tuple[str, str], object], part: str, key: str):
    """The entry for the longest module path of ``key`` in ``table``, or None."""
    pieces = key.split(".")
    for n in range(len(pieces) - 1, 0, -1):
        entry = table.get((part, ".".join(pieces[:n])))
        if entry is not None:
            return entry
    return None


def _shape(tensor: Tensor) -> str:
    return str(tuple(tensor.shape))


def strip_data_parallel(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """A state dict without DataParallel's ``module.`` prefix, when every key has it."""
    if state and all(k.startswith(DATA_PARALLEL_PREFIX) for k in state):
        return {k[len(DATA_PARALLEL_PREFIX) :]: v for k, v in state.items()}
    return dict(state)


def convert_state_dicts(published: Mapping[str, Mapping[str, Tensor]], model: IQuery) -> Conversion:
    """Map the published ``sound``, ``frame`` and ``maskformer`` state dicts onto ``model``'s.

    Every tensor is checked against the shape of the same tensor in ``model``; any published
    tensor that has no place here (and is not a known unused module), any shape that differs and
    any tensor of ours left unfilled is named in one ConfigError. ``model`` is not modified.
    """
    config = model.config
    target = model.state_dict()
    rules = {(r.part, r.published): r for r in name_rules(config)}
    unused = {(u.part, u.published): u for u in unused_modules(config)}
    conversion = Conversion(state={})
    unmapped: list[str] = []
    mismatched: list[str] = []
    disagreeing: set[str] = set()  # ours, already named with both shapes
    absent = [p for p in PARTS if p not in published]
    if absent or set(published) - set(PARTS):
        raise ConfigError(f"give the published state dicts {list(PARTS)}, got {sorted(published)}")
    for part in PARTS:
        for key, tensor in strip_data_parallel(published[part]).items():
            name = f"{part}:{key}"
            rule = _match(rules, part, key)
            if rule is None:
                module = _match(unused, part, key)
                if module is not None:
                    conversion.dropped.append((module, key))
                else:
                    unmapped.append(f"{name} {_shape(tensor)}")
                continue
            ours = rule.ours + key[len(rule.published) :]
            if ours not in target:
                unmapped.append(f"{name} {_shape(tensor)} (would be {ours}, which we lack)")
                continue
            value = tensor
            if rule.conv1d_to_linear and key.endswith("weight") and value.dim() == 3:
                if value.shape[-1] == 1:
                    value = value[..., 0]
            if value.shape != target[ours].shape:
                mismatched.append(f"{name} {_shape(tensor)} vs ours {ours} {_shape(target[ours])}")
                disagreeing.add(ours)
                continue
            conversion.state[ours] = value.detach().to(target[ours].dtype).clone()
            conversion.mapped.append((rule, key, ours))
    unfilled = [
        f"{k} {_shape(v)}"
        for k, v in target.items()
        if k not in conversion.state and k not in disagreeing
    ]
    if unmapped or mismatched or unfilled:
        raise ConfigError(_fit_report(config, published, unmapped, mismatched, unfilled))
    return conversion


def _fit_report(config, published, unmapped, mismatched, unfilled) -> str:
    motion = config.motion_dim is not None
    lines = [
        f"the published checkpoint does not fit our {'iquery' if motion else 'nomotion'} "
        f"network with {config.num_queries} queries:"
    ]
    for title, items in (
        ("published tensors with no place in ours", unmapped),
        ("shapes that disagree", mismatched),
        ("our tensors left unfilled", unfilled),
    ):
        if items:
            lines.append(f"  {title} ({len(items)}):")
            lines += [f"    {item}" for item in items]
    maskformer = strip_data_parallel(published.get("maskformer", {}))
    has_motion = "down.weight" in maskformer
    if maskformer and has_motion != motion:
        lines.append(
            "  the maskformer file "
            + ("has" if has_motion else "lacks")
            + " the motion projection ('down'): use variant "
            + ("iquery" if has_motion else "nomotion")
        )
    queries = maskformer.get("query_embed.weight")
    if queries is not None and queries.shape[0] != config.num_queries:
        lines.append(
            f"  the maskformer file holds {queries.shape[0]} queries, not "
            f"{config.num_queries} (classes + spare queries): check the class list"
        )
    if "upconv1.bias" in strip_data_parallel(published.get("sound", {})):
        lines.append(
            "  'upconv1.bias' is a bias on the U-Net's last conv: Sound of Pixels' U-Net, "
            "not iQuery's, which has none"
        )
    return "\n".join(lines)


def to_published(state: Mapping[str, Tensor], config: ModelConfig) -> dict[str, dict[str, Tensor]]:
    """The inverse map: our IQuery state dict → the published sound, frame and maskformer dicts.

    The unused published modules have nothing here to come from, so they are absent.
    """
    by_ours = {("", r.ours): r for r in name_rules(config)}
    out: dict[str, dict[str, Tensor]] = {part: {} for part in PARTS}
    for key, tensor in state.items():
        rule = _match(by_ours, "", key)
        if rule is None:
            raise ConfigError(f"{key}: no published counterpart")
        value = tensor
        if rule.conv1d_to_linear and key.endswith("weight"):
            value = value[..., None]
        out[rule.part][rule.published + key[len(rule.ours) :]] = value.detach().clone()
    return out


def load_published(path: str | Path) -> dict[str, Tensor]:
    """One published state dict file, read with ``weights_only=True``."""
    state = read_torch_file(path, "published state dict")
    if not isinstance(state, Mapping) or not all(isinstance(v, Tensor) for v in state.values()):
        raise CheckpointError(
            f"{path}: expected a state dict of tensors, found {describe_contents(state)}"
        )
    return strip_data_parallel(state)


@dataclass(frozen=True)
class PublishedData:
    """What a published checkpoint was trained on, as this project's settings name it: the
    dataset's run settings (clip length, STFT hop, frames per clip, spare queries, whether the
    mixture is divided) and its audio and frame rates."""

    dataset: str
    settings: TrainSettings
    audio_rate: int
    frame_rate: float
    config: dict = dataclasses.field(default_factory=dict, repr=False)  # the workflow config


def published_data(config: dict, dataset: str, variant: str | None = None) -> PublishedData:
    """The data settings of ``dataset``'s published checkpoint, from the workflow config (the
    dataset's block and its ``iquery`` run, which follow the paper's settings); ``variant``
    (iquery or nomotion) defaults to that run's (AVE's model has no motion branch)."""
    if dataset not in PUBLISHED_CLASSES:
        raise ConfigError(
            f"dataset {dataset!r}: published checkpoints exist for "
            f"{', '.join(sorted(PUBLISHED_CLASSES))}; give the one these files were trained on"
        )
    settings = run_settings(config, dataset, "iquery")
    variant = variant or settings.variant
    if variant not in ("iquery", "nomotion"):
        raise ConfigError(f"variant {variant!r}: published checkpoints are iquery or nomotion")
    overrides = dict(settings.model_overrides) | {"freeze_visual": True}
    settings = load_settings(
        settings.to_dict()
        | {"variant": variant, "seed": 0, "visual_weights": None, "model_overrides": overrides},
        f"published {dataset} checkpoint",
    )
    block = config["datasets"][dataset]
    rates = int(block["audio_rate"]), float(block["frame_rate"])
    return PublishedData(dataset, settings, *rates, config=config)


def published_system(classes: Sequence[str], data: PublishedData) -> SeparationSystem:
    """A fresh SeparationSystem with the published settings of ``data.dataset`` for ``classes``
    (in query order): ``len(classes) + spare_queries`` queries, the ResNet frozen as it was
    published, the dataset's clip, hop, frames and rates for evaluation and separation."""
    classes = list(classes)
    if not classes or len(set(classes)) != len(classes):
        raise ConfigError(f"give each class once, in the published query order: {classes}")
    settings = data.settings
    motion = settings.variant == "iquery"
    config = model_config(
        settings, {"classes": classes, "motion_dim": MOTION_DIM if motion else None}
    )
    data_spec = dataclasses.asdict(ClipSpec.from_settings(settings)) | {
        "frame_rate": data.frame_rate,
        "audio_rate": data.audio_rate,
        "classes": classes,
        "use_motion": motion,
        "select_on": "test",  # the published code kept its best checkpoint on the test pairs
    }
    if data.config:  # how a new video is prepared for it: as the workflow prepares the dataset's
        data_spec["recipe"] = recipe(data.config, data.dataset, classes)
    return SeparationSystem.from_settings(config, settings, data_spec)


def write_checkpoint(
    out: str | Path,
    published: Mapping[str, Mapping[str, Tensor]],
    classes: Sequence[str],
    data: PublishedData,
    sources: Mapping[str, str] | None = None,
) -> Conversion:
    """Convert the published state dicts and write a checkpoint that
    ``iquery.model.separator.load_separator`` reads: ``{"hyper_parameters": ...,
    "state_dict": ...}`` as SeparationSystem saves them, plus ``published_source`` (the files
    read, the dataset and the tensors dropped)."""
    system = published_system(classes, data)
    conversion = convert_state_dicts(published, system.model)
    system.model.load_state_dict(conversion.state, strict=True)
    checkpoint = {
        "hyper_parameters": copy.deepcopy(dict(system.hparams)),
        "state_dict": system.state_dict(),
        "published_source": {
            "files": dict(sources or {}),
            "dataset": data.dataset,
            "dropped": [f"{module.part}:{key}" for module, key in conversion.dropped],
        },
    }
    with atomic_path(out) as tmp:
        torch.save(checkpoint, tmp)
    return conversion


def convert_files(
    sound: str | Path,
    frame: str | Path,
    maskformer: str | Path,
    out: str | Path,
    classes: Sequence[str],
    data: PublishedData,
) -> Conversion:
    """:func:`write_checkpoint` from the three published files."""
    paths = {"sound": sound, "frame": frame, "maskformer": maskformer}
    published = {part: load_published(path) for part, path in paths.items()}
    sources = {part: str(path) for part, path in paths.items()}
    return write_checkpoint(out, published, classes, data, sources)


def rule_summary(conversion: Conversion) -> Iterable[tuple[Rule, int]]:
    """Each rule that was used and how many tensors it moved, in table order."""
    counts: dict[Rule, int] = {}
    for rule, _, _ in conversion.mapped:
        counts[rule] = counts.get(rule, 0) + 1
    return counts.items()
