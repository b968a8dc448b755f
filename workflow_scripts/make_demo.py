"""Make the demo dataset: rendered instruments with drawn, note-driven pictures.

    python -m workflow_scripts.make_demo --out data/demo/source --classes cello flute \
        --videos-per-class 8 --seed 1234

Writes {out}/{class}/{vid}.mp4, the true boxes {out}/boxes/{class}/{vid}.npy (per video frame),
{out}/index.json (MUSIC style, entries are file:// URLs) and {out}/meta.json. Deterministic:
each video's seed comes from (seed, class, number), so one video can be remade alone.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from workflow_scripts.demo.naming import INSTRUMENT_PROGRAMS, demo_video_ids
from workflow_scripts.records import write_json


def video_seed(seed: int, cls: str, vid: str) -> list[int]:
    """A seed per video that does not depend on which other classes are made."""
    digest = hashlib.sha256(f"{cls}/{vid}".encode()).digest()
    return [seed, int.from_bytes(digest[:4], "little")]


def _one(job: dict) -> dict:
    from workflow_scripts.demo.render import make_video

    return make_video(**job)


def make_demo_dataset(
    out_dir: str | Path,
    classes: list[str],
    videos_per_class: int,
    *,
    min_seconds: float = 10,
    max_seconds: float = 20,
    width: int = 320,
    height: int = 240,
    fps: float = 10,
    sample_rate: int = 44100,
    soundfont: str = "/usr/share/sounds/sf2/TimGM6mb.sf2",
    seed: int = 1234,
    jobs: int = 1,
) -> dict:
    import numpy as np
    from tqdm import tqdm

    if not Path(soundfont).is_file():
        raise SystemExit(
            f"soundfont {soundfont} not found: install timgm6mb-soundfont "
            "(./setup.sh does) or set config key demo.soundfont"
        )
    if min_seconds > max_seconds:
        raise SystemExit("min_seconds must not exceed max_seconds")
    out_dir = Path(out_dir)
    work = []
    for cls, vid in demo_video_ids(classes, videos_per_class):
        s = video_seed(seed, cls, vid)
        seconds = round(float(np.random.default_rng(s + [1]).uniform(min_seconds, max_seconds)), 2)
        work.append(
            {
                "cls": cls,
                "vid": vid,
                "out_dir": out_dir,
                "seconds": seconds,
                "width": width,
                "height": height,
                "fps": fps,
                "sample_rate": sample_rate,
                "soundfont": soundfont,
                "seed": s,
            }
        )
    with ProcessPoolExecutor(max_workers=max(1, jobs)) as pool:
        metas = list(
            tqdm(
                pool.map(_one, work),
                total=len(work),
                desc="demo videos",
                file=sys.stderr,
                disable=None,
            )
        )
    index = {"version": 1, "videos": {c: [] for c in classes}}
    for meta in metas:
        path = (out_dir / meta["class"] / f"{meta['vid']}.mp4").resolve()
        index["videos"][meta["class"]].append(path.as_uri())
    settings = {
        "classes": classes,
        "videos_per_class": videos_per_class,
        "min_seconds": min_seconds,
        "max_seconds": max_seconds,
        "width": width,
        "height": height,
        "fps": fps,
        "sample_rate": sample_rate,
        "soundfont": str(soundfont),
        "seed": seed,
    }
    write_json(out_dir / "meta.json", {"settings": settings, "videos": metas})
    write_json(out_dir / "index.json", index)
    return index


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True)
    parser.add_argument(
        "--classes", nargs="+", default=list(INSTRUMENT_PROGRAMS), choices=list(INSTRUMENT_PROGRAMS)
    )
    parser.add_argument("--videos-per-class", type=int, default=8)
    parser.add_argument("--min-seconds", type=float, default=10)
    parser.add_argument("--max-seconds", type=float, default=20)
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=240)
    parser.add_argument("--fps", type=float, default=10)
    parser.add_argument("--sample-rate", type=int, default=44100)
    parser.add_argument("--soundfont", default="/usr/share/sounds/sf2/TimGM6mb.sf2")
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--jobs", type=int, default=1)
    args = parser.parse_args(argv)
    index = make_demo_dataset(
        args.out,
        args.classes,
        args.videos_per_class,
        min_seconds=args.min_seconds,
        max_seconds=args.max_seconds,
        width=args.width,
        height=args.height,
        fps=args.fps,
        sample_rate=args.sample_rate,
        soundfont=args.soundfont,
        seed=args.seed,
        jobs=args.jobs,
    )
    total = sum(len(v) for v in index["videos"].values())
    print(f"{total} demo videos in {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
