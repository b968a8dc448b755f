"""The demo dataset: rendered instruments with drawn, note-driven pictures, and its index.

Deterministic: each video's seed comes from (seed, class, id), so one video can be remade alone
and does not change when other classes are added or removed.
"""

from __future__ import annotations

import hashlib
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from iquery.pipeline.core.files import write_json
from iquery.pipeline.datasets.demo.naming import demo_video_ids


@dataclass(frozen=True)
class DemoSettings:
    """What the demo looks and sounds like (config block ``demo``)."""

    classes: list[str]
    videos_per_class: int
    min_seconds: float
    max_seconds: float
    width: int
    height: int
    fps: float
    sample_rate: int
    soundfont: str


def video_seed(seed: int, cls: str, vid: str) -> list[int]:
    """A seed per video that does not depend on which other classes are made."""
    digest = hashlib.sha256(f"{cls}/{vid}".encode()).digest()
    return [seed, int.from_bytes(digest[:4], "little")]


def _make_one(job: dict) -> dict:
    from iquery.pipeline.datasets.demo.render import make_video

    return make_video(**job)


def make_demo_dataset(
    settings: DemoSettings,
    *,
    videos: list[str | Path],
    boxes: list[str | Path],
    index: str | Path,
    meta: str | Path,
    seed: int,
    jobs: int = 1,
) -> dict:
    """Make every demo video (``videos`` and ``boxes`` name each one's files, in the order of
    ``demo_video_ids``) and write the MUSIC-style index of their file:// URLs and the meta file.
    """
    from tqdm import tqdm

    if not Path(settings.soundfont).is_file():
        raise SystemExit(
            f"soundfont {settings.soundfont} not found: install timgm6mb-soundfont "
            "(./setup.sh does) or set config key demo.soundfont"
        )
    if settings.min_seconds > settings.max_seconds:
        raise SystemExit("min_seconds must not exceed max_seconds")
    ids = demo_video_ids(settings.classes, settings.videos_per_class)
    if not len(ids) == len(videos) == len(boxes):
        raise SystemExit(f"the demo has {len(ids)} videos: give as many video and box paths")
    work = []
    for (cls, vid), video, box in zip(ids, videos, boxes, strict=True):
        s = video_seed(seed, cls, vid)
        span = (settings.min_seconds, settings.max_seconds)
        seconds = round(float(np.random.default_rng(s + [1]).uniform(*span)), 2)
        look = {k: getattr(settings, k) for k in ("width", "height", "fps", "sample_rate")}
        work.append(
            {"cls": cls, "vid": vid, "video": video, "boxes": box, "seconds": seconds}
            | look
            | {"soundfont": settings.soundfont, "seed": s}
        )
    with ProcessPoolExecutor(max_workers=max(1, jobs)) as pool:
        made = pool.map(_make_one, work)
        metas = list(tqdm(made, total=len(work), desc="demo videos", file=sys.stderr, disable=None))
    urls = {c: [] for c in settings.classes}
    for (cls, _), video in zip(ids, videos, strict=True):
        urls[cls].append(Path(video).resolve().as_uri())
    listing = {"version": 1, "videos": urls}
    write_json(meta, {"settings": vars(settings) | {"seed": seed}, "videos": metas})
    write_json(index, listing)
    return listing
