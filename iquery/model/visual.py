"""Object encoder of iQuery: dilated ResNet-18, 3×3 conv head, max pool (docs/method.md §3.1);
or, where no pretrained ResNet can be had (the demo), a small CNN trained on the dataset's own
crops (``small_encoder``).

ResNet-18 from torchvision with layer4 turned to stride 1 / dilation 2 (output stride 16, a
512 × 14 × 14 map for a 224 crop), average pool and fc dropped. A trainable Conv2d 3×3, 512→C head
follows; the per-frame maps are max-pooled over (T, H, W) and passed through a sigmoid, giving one
C-dimensional vector per clip.

Weights: ``weights=None`` builds a randomly initialised backbone that is trained with the rest
(the "from scratch" option); a path loads a torchvision ``resnet18`` state dict from local disk
(``torch.load(..., weights_only=True)``, strict key check) and freezes the backbone. Nothing is
ever downloaded.

Difference from the published code (docs/method.md §7 h): a frozen backbone is also kept in eval
mode, so its BatchNorm layers use the pretrained running statistics; the published code froze the
parameters but left the BatchNorm layers in train mode, so batch statistics were used and the
running averages drifted.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torchvision
from torch import Tensor, nn

from iquery.pipeline.core.torch_files import CheckpointError, describe_contents, read_torch_file


def _dilate_layer4(layer4: nn.Module) -> None:
    # The stride-2 convs lose their stride (the 3×3 one keeps dilation 1), every other 3×3 conv
    # gets dilation 2, so the receptive field grows as it would have with the stride.
    for module in layer4.modules():
        if not isinstance(module, nn.Conv2d):
            continue
        if module.stride == (2, 2):
            module.stride = (1, 1)
        elif module.kernel_size == (3, 3):
            module.dilation = (2, 2)
            module.padding = (2, 2)


def load_resnet18_state(path: str | Path) -> dict[str, Tensor]:
    """Read a torchvision resnet18 state dict (a torch file, or safetensors as the hub's
    ``timm/resnet18.tv_in1k`` holds the same weights), checking its key set exactly."""
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(path)
    else:
        state = read_torch_file(path, "ResNet-18 state dict")
    if not isinstance(state, dict):
        raise CheckpointError(
            f"{path}: expected a ResNet-18 state dict, found {describe_contents(state)}"
        )
    expected = set(torchvision.models.resnet18(weights=None).state_dict())
    # The ImageNet files torchvision publishes predate BatchNorm's num_batches_tracked buffer;
    # load_state_dict fills it in, so its absence is fine.
    missing = sorted(k for k in expected - set(state) if not k.endswith("num_batches_tracked"))
    unexpected = sorted(set(state) - expected)
    if missing or unexpected:
        raise ValueError(
            f"{path}: not a torchvision resnet18 state dict "
            f"(missing keys: {missing[:5]}{'...' if len(missing) > 5 else ''}; "
            f"unexpected keys: {unexpected[:5]}{'...' if len(unexpected) > 5 else ''})"
        )
    return state


def small_encoder() -> nn.Sequential:
    """A four-layer CNN (3 → 128 channels, output stride 8), the object encoder the demo trains
    on its own instrument crops in a minute (``iquery/model/visual_pretraining.py``) where no
    pretrained ResNet can be had: a fortieth of ResNet-18's arithmetic, with features that tell
    the instruments apart."""
    layers: list[nn.Module] = []
    widths = [3, 32, 64, 128, 128]
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        stride = 2 if i < 3 else 1
        layers += [nn.Conv2d(a, b, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(b)]
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


BACKBONE_CHANNELS = {"resnet18": 512, "small": 128}


def resnet18_backbone(weights: str | Path | None) -> nn.Sequential:
    resnet = torchvision.models.resnet18(weights=None)
    if weights is not None:
        resnet.load_state_dict(load_resnet18_state(weights), strict=True)
    _dilate_layer4(resnet.layer4)
    return nn.Sequential(
        resnet.conv1,
        resnet.bn1,
        resnet.relu,
        resnet.maxpool,
        resnet.layer1,
        resnet.layer2,
        resnet.layer3,
        resnet.layer4,
    )


def load_small_encoder(path: str | Path) -> nn.Sequential:
    encoder = small_encoder()
    state = read_torch_file(path, "small object encoder")
    try:
        encoder.load_state_dict(state, strict=True)
    except (RuntimeError, TypeError, AttributeError):
        raise CheckpointError(
            f"{path}: holds {describe_contents(state)}, not a small object encoder's state dict "
            "(rule visual_encoder writes one)"
        ) from None
    return encoder


class VisualNet(nn.Module):
    """Frames (B, 3, T, H, W) → (B, out_channels) object feature in (0, 1)."""

    def __init__(
        self,
        out_channels: int = 32,
        weights: str | Path | None = None,
        freeze_backbone: bool | None = None,
        backbone: str = "resnet18",
    ) -> None:
        super().__init__()
        if backbone == "resnet18":
            self.backbone = resnet18_backbone(weights)
        elif backbone == "small":
            self.backbone = small_encoder() if weights is None else load_small_encoder(weights)
        else:
            raise ValueError(f"visual backbone {backbone!r}: use resnet18 or small")
        self.head = nn.Conv2d(BACKBONE_CHANNELS[backbone], out_channels, 3, padding=1)
        # By default a pretrained backbone is frozen and a random one is trained.
        self.frozen = weights is not None if freeze_backbone is None else freeze_backbone
        if self.frozen:
            self.backbone.requires_grad_(False)
            self.backbone.eval()

    def train(self, mode: bool = True) -> VisualNet:
        super().train(mode)
        if self.frozen:
            self.backbone.eval()
        return self

    def feature_map(self, frames: Tensor) -> Tensor:
        """Per-frame head output (B, T, C, h, w) for frames (B, 3, T, H, W)."""
        b, c, t, h, w = frames.shape
        flat = frames.transpose(1, 2).reshape(b * t, c, h, w)
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.frozen):
            feats = self.backbone(flat)
        out = self.head(feats)
        return out.reshape(b, t, *out.shape[1:])

    def forward(self, frames: Tensor) -> Tensor:
        return torch.sigmoid(self.feature_map(frames).amax(dim=(1, 3, 4)))
