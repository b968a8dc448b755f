"""The detector backends behind one call: a video's frames in, its (K, 7) rows out.

``background`` needs no weights (static cameras, the demo); ``owl`` is OWLv2 prompted with the
class names, loaded once and run batched; ``precomputed`` reads the circulating CoSep/Detic
files. See ``iquery/pipeline/detection/rows.py`` for the row format.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

BACKENDS = ("background", "owl", "precomputed")

# A video's frames, each (H, W, 3) uint8 (a ``FrameFolder``, or an array (T, H, W, 3)), and,
# for ``precomputed``, the video's file → rows (K, 7)
Frames = Sequence[np.ndarray]
Detector = Callable[[Frames, Path | None], np.ndarray]


class FrameFolder(Sequence):
    """The JPEGs of a frame folder, in order, each read as (H, W, 3) uint8 when asked for: a
    long video's frames are never held together."""

    def __init__(self, folder: str | Path) -> None:
        self.files = sorted(Path(folder).glob("*.jpg"))
        if not self.files:
            raise FileNotFoundError(f"{folder}: no frames; rerun the frames stage")

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> np.ndarray:
        with Image.open(self.files[index]) as image:
            return np.asarray(image.convert("RGB"))


def make_detector(
    backend: str,
    *,
    classes: list[str],
    owl_model: str | None = None,
    threshold: float | None = None,
    batch_size: int | None = None,
    class_offset: int | None = None,
    device: str | None = None,
) -> Detector:
    """The detector of ``backend``; an OWL model is loaded here, once."""
    if backend == "background":
        from iquery.pipeline.detection.background import background_boxes

        return lambda frames, _: background_boxes(frames)
    if backend == "owl":
        from iquery.pipeline.detection.owl import OwlDetector, prompts_for

        if owl_model is None or threshold is None or batch_size is None:
            raise ValueError("the owl backend needs a model, a threshold and a batch size")
        owl = OwlDetector(owl_model, device=device, threshold=threshold)
        prompts = prompts_for(classes)
        return lambda frames, _: owl.detect(
            (Image.fromarray(f) for f in frames), prompts, batch_size=batch_size
        )
    if backend == "precomputed":
        from iquery.pipeline.detection.precomputed import import_rows

        def imported(frames: np.ndarray, source: Path | None) -> np.ndarray:
            if source is None:
                raise ValueError("the precomputed backend needs each video's file")
            n, (h, w) = len(frames), frames[0].shape[:2]
            return import_rows(
                source,
                class_offset=class_offset,
                n_classes=len(classes),
                n_frames=n,
                width=w,
                height=h,
            )

        return imported
    raise ValueError(f"unknown detector {backend!r}; choose from {', '.join(BACKENDS)}")
