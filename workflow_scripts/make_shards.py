"""Pack one split of a dataset into HDF5 shards: everything training reads, nothing else.

    python -m workflow_scripts.make_shards --data-dir data/demo --split train \
        --classes accordion cello ... --out-index data/demo/shards/train.json [--only K]

Per video, under /videos/{cls}/{vid}: ``audio`` (int16 at the dataset's rate), ``frames`` (the
crop of each frame to its chosen box, resized so its shorter side is ``crop_side``, as JPEG
bytes), ``boxes`` (the chosen box per frame), ``detections`` (all rows), and where motion was
extracted ``motion`` (float16 tokens, T' x C) with ``motion_spans`` (seconds). Shards are about
``max_mb`` each, written to a temp file and renamed; ``--only K`` rebuilds shard K alone.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path

import h5py
import numpy as np
from PIL import Image

from workflow_scripts.detection import load_rows, select_boxes
from workflow_scripts.manifest import read_tsv
from workflow_scripts.media import read_wav
from workflow_scripts.records import atomic_path, settings_hash, write_json

FORMAT_VERSION = 1


class ShardError(ValueError):
    """A missing or inconsistent input of a shard; the message names the file."""


def crop_frame(image: Image.Image, box: np.ndarray, side: int, quality: int = 90) -> bytes:
    """Crop to ``box`` and resize so the shorter side is ``side``; JPEG bytes."""
    x1, y1, x2, y2 = (int(round(v)) for v in box)
    crop = image.crop((x1, y1, max(x2, x1 + 1), max(y2, y1 + 1)))
    w, h = crop.size
    scale = side / min(w, h)
    crop = crop.resize((max(side, round(w * scale)), max(side, round(h * scale))), Image.BICUBIC)
    buffer = io.BytesIO()
    crop.convert("RGB").save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def video_payload(
    data_dir: Path,
    cls: str,
    vid: str,
    *,
    class_index: int,
    own_class_boxes: bool,
    crop_side: int,
    motion_dir: Path | None,
    n_classes: int,
) -> dict:
    """Read one video's audio, frames, detections and motion; check they agree."""
    wav = data_dir / "audio" / cls / f"{vid}.wav"
    frames_dir = data_dir / "frames" / cls / f"{vid}.mp4"
    det_path = data_dir / "detection_results" / cls / f"{vid}.mp4.npy"
    try:
        audio, rate = read_wav(wav)
    except FileNotFoundError as err:
        raise ShardError(f"{wav}: audio missing; rerun the audio stage") from err
    jpgs = sorted(frames_dir.glob("*.jpg"))
    if not jpgs:
        raise ShardError(f"{frames_dir}: no frames; rerun the frames stage")
    first = Image.open(jpgs[0])
    width, height = first.size
    rows = load_rows(det_path, n_frames=len(jpgs), width=width, height=height, n_classes=n_classes)
    boxes = select_boxes(
        rows,
        len(jpgs),
        width=width,
        height=height,
        own_class=class_index if own_class_boxes else None,
    )
    crops = [crop_frame(Image.open(p), box, crop_side) for p, box in zip(jpgs, boxes, strict=True)]
    payload = {
        "audio": audio,
        "rate": rate,
        "crops": crops,
        "boxes": boxes,
        "rows": rows,
        "size": (width, height),
        "class_index": class_index,
    }
    if motion_dir is not None:
        motion_path = motion_dir / cls / f"{vid}.mp4.npz"
        if not motion_path.is_file():
            raise ShardError(f"{motion_path}: motion features missing; rerun the motion stage")
        with np.load(motion_path, allow_pickle=False) as motion:
            payload["motion"] = motion["tokens"].astype(np.float16)
            payload["motion_spans"] = motion["spans"].astype(np.float32)
            payload["motion_extractor"] = str(motion["extractor"])
            payload["motion_weights"] = str(motion["weights_sha256"])
    return payload


def plan_shards(sizes: list[int], max_bytes: int) -> list[list[int]]:
    """Group consecutive videos into shards of at most ``max_bytes`` (one video at least)."""
    shards: list[list[int]] = [[]]
    total = 0
    for i, size in enumerate(sizes):
        if shards[-1] and total + size > max_bytes:
            shards.append([])
            total = 0
        shards[-1].append(i)
        total += size
    return shards


def estimate_bytes(data_dir: Path, cls: str, vid: str) -> int:
    """Shard bytes a video will take, from its WAV and frames (crops are about as large)."""
    wav = data_dir / "audio" / cls / f"{vid}.wav"
    frames = data_dir / "frames" / cls / f"{vid}.mp4"
    return wav.stat().st_size + sum(p.stat().st_size for p in frames.glob("*.jpg"))


def write_shard(path: Path, videos: list[tuple[str, str]], attrs: dict, payload_of) -> None:
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as h5:
            for key, value in attrs.items():
                h5.attrs[key] = value
            group = h5.create_group("videos")
            for cls, vid in videos:
                p = payload_of(cls, vid)
                g = group.create_group(f"{cls}/{vid}")
                g.create_dataset("audio", data=p["audio"])
                jpeg = h5py.vlen_dtype(np.uint8)
                frames = g.create_dataset("frames", (len(p["crops"]),), dtype=jpeg)
                for i, data in enumerate(p["crops"]):
                    frames[i] = np.frombuffer(data, dtype=np.uint8)
                g.create_dataset("boxes", data=p["boxes"])
                g.create_dataset("detections", data=p["rows"])
                if "motion" in p:
                    g.create_dataset("motion", data=p["motion"])
                    g.create_dataset("motion_spans", data=p["motion_spans"])
                    g.attrs["motion_extractor"] = p["motion_extractor"]
                    g.attrs["motion_weights_sha256"] = p["motion_weights"]
                g.attrs.update(
                    {
                        "class": cls,
                        "vid": vid,
                        "class_index": p["class_index"],
                        "rate": p["rate"],
                        "frame_width": p["size"][0],
                        "frame_height": p["size"][1],
                    }
                )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", required=True, type=Path)
    parser.add_argument("--split", required=True, choices=["train", "val", "test"])
    parser.add_argument("--classes", required=True, nargs="+", help="class order (query index)")
    parser.add_argument("--frame-rate", type=float, required=True)
    parser.add_argument(
        "--own-class-boxes",
        action="store_true",
        help="prefer the box of the source's own class (MUSIC-21, AVE)",
    )
    parser.add_argument("--crop-side", type=int, default=246)
    parser.add_argument("--motion-dir", type=Path, default=None)
    parser.add_argument("--max-mb", type=float, default=300)
    parser.add_argument("--out-index", required=True, type=Path)
    parser.add_argument("--settings-json", default="{}", help="recorded as the config hash")
    parser.add_argument("--only", type=int, default=None, help="rebuild this shard alone")
    args = parser.parse_args(argv)

    split = read_tsv(args.data_dir / "splits" / f"{args.split}.tsv")
    videos = [(r["class"], r["vid"]) for r in split]
    if not videos:
        raise SystemExit(f"{args.data_dir}/splits/{args.split}.tsv lists no videos")
    sizes = [estimate_bytes(args.data_dir, c, v) for c, v in videos]
    plan = plan_shards(sizes, int(args.max_mb * 2**20))
    settings = json.loads(args.settings_json)
    attrs = {
        "format_version": FORMAT_VERSION,
        "dataset": args.data_dir.name,
        "split": args.split,
        "classes": json.dumps(args.classes),
        "frame_rate": args.frame_rate,
        "crop_side": args.crop_side,
        "own_class_boxes": args.own_class_boxes,
        "has_motion": args.motion_dir is not None,
        "config_hash": settings_hash(settings),
    }

    def payload_of(cls, vid):
        return video_payload(
            args.data_dir,
            cls,
            vid,
            class_index=args.classes.index(cls),
            own_class_boxes=args.own_class_boxes,
            crop_side=args.crop_side,
            motion_dir=args.motion_dir,
            n_classes=len(args.classes),
        )

    out_dir = args.out_index.parent
    entries = []
    for k, members in enumerate(plan):
        path = out_dir / f"{args.split}-{k:03d}.h5"
        if args.only is None or args.only == k:
            chosen = [videos[i] for i in members]
            write_shard(path, chosen, attrs | {"shard": k, "shards": len(plan)}, payload_of)
            print(
                f"{path}: {len(chosen)} videos, {path.stat().st_size / 2**20:.1f} MB",
                file=sys.stderr,
            )
        entries.append({"file": path.name, "videos": [videos[i] for i in members]})
    write_json(
        args.out_index,
        {
            "split": args.split,
            "shards": entries,
            "settings": settings,
            "config_hash": attrs["config_hash"],
        },
    )


if __name__ == "__main__":
    main()
