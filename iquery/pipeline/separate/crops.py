"""The object crops ``separate`` feeds the model: each class's crop of a frame, cut by the
shards' box rule and side, as training saw them; and what the video became before separation,
kept where asked (``--keep-prepared``)."""

from __future__ import annotations

import shutil
from collections import OrderedDict
from pathlib import Path

import numpy as np
from PIL import Image

from iquery.pipeline.detection.rows import select_boxes
from iquery.pipeline.stages.shards import crop_frame


class Crops:
    """Each class's object crop of a frame, by the shards' box rule and crop, cut when asked
    for; the last ``keep`` crops are kept (neighbouring windows share frames), not a long
    video's every crop."""

    def __init__(
        self, jpgs: list[Path], rows: np.ndarray, *, side: int, own_class: bool, keep: int = 256
    ):
        self.jpgs, self.rows, self.side, self.own_class = jpgs, rows, side, own_class
        self.size = Image.open(jpgs[0]).size
        self.boxes: dict[int, np.ndarray] = {}
        self.cache: OrderedDict[tuple[int, int], bytes] = OrderedDict()
        self.keep = keep

    def __call__(self, class_index: int, frames: list[int]) -> list[bytes]:
        if class_index not in self.boxes:
            width, height = self.size
            own = class_index if self.own_class else None
            self.boxes[class_index] = select_boxes(
                self.rows, len(self.jpgs), width=width, height=height, own_class=own
            )
        out = []
        for f in frames:
            key = (class_index, f)
            if key not in self.cache:
                box = self.boxes[class_index][f]
                self.cache[key] = crop_frame(Image.open(self.jpgs[f]), box, self.side)
                if len(self.cache) > self.keep:
                    self.cache.popitem(last=False)
            self.cache.move_to_end(key)
            out.append(self.cache[key])
        return out


def keep_prepared(folder: Path, frames: Path, rows, crops: Crops, motion, wanted: dict[str, int]):
    """What the video became before separation: frames/, detections.npy (K, 7), crops/CLASS/
    (each frame's crop, JPEG, as a shard stores it) and motion.npy (T', C)."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    shutil.copytree(frames, folder / "frames")
    np.save(folder / "detections.npy", rows)
    if motion is not None:
        np.save(folder / "motion.npy", motion)
    for name, index in wanted.items():
        (folder / "crops" / name).mkdir(parents=True)
        for k in range(len(crops.jpgs)):
            (jpeg,) = crops(index, [k])
            (folder / "crops" / name / f"{k + 1:06d}.jpg").write_bytes(jpeg)
