"""The networks trained here, and what each is trained with unless a setting says otherwise.

Kept free of heavy imports: the workflow reads it when it starts, to check config.yaml.
See docs/method.md §6 for the Sound-of-Pixels recipe and why it is kept apart from iQuery's.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Variant:
    name: str
    label: str  # how tables and reports name it
    network: str  # "iquery" (U-Net + query transformer) or "sop" (U-Net + channel weights)
    motion: bool  # reads I3D motion tokens
    defaults: dict = field(default_factory=dict)  # settings whose paper value differs


VARIANTS: dict[str, Variant] = {
    "iquery": Variant("iquery", "iQuery", "iquery", motion=True),
    "nomotion": Variant("nomotion", "iQuery without motion", "iquery", motion=False),
    # Sound of Pixels as its authors trained it: binary masks and weighted BCE, one SGD with
    # momentum over everything, the ResNet trained at a tenth of the U-Net's rate. Clips, frames,
    # batch size and epoch length stay those of the iQuery runs, so that the comparison isolates
    # the method (docs/method.md §6).
    "sop": Variant(
        "sop",
        "Sound-of-Pixels",
        "sop",
        motion=False,
        defaults={
            "mask": "binary",
            "loss": "bce",
            "optimizer": "sgd",
            "momentum": 0.9,
            "lr_sound": 1e-3,
            "lr_frame": 1e-4,
            "lr_steps": [40, 80],
            "model_overrides": {"freeze_visual": False},
        },
    ),
}


def variant(name: str) -> Variant:
    try:
        return VARIANTS[name]
    except KeyError:
        raise ValueError(f"variant {name!r}: use one of {', '.join(VARIANTS)}") from None
