"""Detect the instruments in each usable video's frames: detection_results/{cls}/{vid}.mp4.npy.

    python -m workflow_scripts.detect --data-dir data/demo --backend background \
        --classes accordion cello ... --summary data/demo/detection_results/summary.json

Backends: ``background`` (no weights; static cameras and the demo), ``owl`` (OWLv2 prompted with
the class names; ``--model`` is a hub id or a local folder) and ``precomputed`` (the circulating
CoSep/Detic files, from ``--precomputed-dir``). Each video's rows are written atomically with a
stamp of the settings; a rerun with the same settings skips the videos already done. Where the
demo's true boxes are known (``--truth-dir``), the summary reports the IoU against them.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from workflow_scripts.detection import iou, load_rows, save_rows, select_boxes
from workflow_scripts.manifest import read_tsv
from workflow_scripts.records import mark_made, settings_hash, up_to_date, write_json


def load_frame_folder(folder: Path) -> np.ndarray:
    jpgs = sorted(folder.glob("*.jpg"))
    if not jpgs:
        raise FileNotFoundError(f"{folder}: no frames; rerun the frames stage")
    return np.stack([np.asarray(Image.open(p).convert("RGB")) for p in jpgs])


def truth_iou(rows, truth_path: Path, frames_count: int, size, frame_rate: float, video_fps):
    """IoU per extracted frame between the selected box and the generator's true box.

    Frame k (1-based) of the extracted frames shows the video frame just before (k - 0.5) / fps
    seconds (see media.extract_frames), i.e. video frame ceil((k - 0.5) / fps * video_fps) - 1.
    """
    truth = np.load(truth_path)
    k = np.arange(1, frames_count + 1)
    index = np.clip(
        np.ceil((k - 0.5) / frame_rate * video_fps - 1e-6).astype(int) - 1, 0, len(truth) - 1
    )
    chosen = select_boxes(rows, frames_count, width=size[0], height=size[1])
    return iou(chosen, truth[index])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", required=True, type=Path)
    parser.add_argument("--backend", required=True, choices=["background", "owl", "precomputed"])
    parser.add_argument("--classes", required=True, nargs="+")
    parser.add_argument("--summary", required=True, type=Path)
    parser.add_argument("--model", default="google/owlv2-base-patch16-ensemble")
    parser.add_argument("--threshold", type=float, default=0.1, help="owl: minimum score")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--device", default=None)
    parser.add_argument("--precomputed-dir", type=Path, default=None)
    parser.add_argument(
        "--class-offset",
        type=int,
        default=None,
        help="precomputed: file class id minus this = class index "
        "(MUSIC-21 Detic 1, AVE 0); leave out for class-agnostic (CoSep)",
    )
    parser.add_argument("--truth-dir", type=Path, default=None, help="the demo's true boxes")
    parser.add_argument("--video-fps", type=float, default=None, help="the demo videos' fps")
    parser.add_argument("--frame-rate", type=float, default=1.0)
    args = parser.parse_args(argv)

    settings = {k: str(v) for k, v in vars(args).items() if k not in ("summary", "truth_dir")}
    stamp = settings_hash(settings)
    videos = read_tsv(args.data_dir / "manifest.tsv")
    out_root = args.data_dir / "detection_results"
    detector = None
    if args.backend == "owl":
        from workflow_scripts.detectors.owl import OwlDetector, prompts_for

        detector = OwlDetector(args.model, device=args.device, threshold=args.threshold)
        prompts = prompts_for(args.classes)

    found, skipped, ious = 0, 0, []
    for row in tqdm(videos, desc=f"detect ({args.backend})", file=sys.stderr, disable=None):
        cls, vid = row["class"], row["vid"]
        out = out_root / cls / f"{vid}.mp4.npy"
        folder = args.data_dir / "frames" / cls / f"{vid}.mp4"
        if up_to_date(out, stamp):
            skipped += 1
        else:
            frames = load_frame_folder(folder)
            n, h, w = frames.shape[:3]
            if args.backend == "background":
                from workflow_scripts.detectors.background import background_boxes

                rows = background_boxes(frames)
            elif args.backend == "owl":
                rows = detector.detect(
                    [Image.fromarray(f) for f in frames], prompts, batch_size=args.batch_size
                )
            else:
                from workflow_scripts.detectors.precomputed import import_rows

                if args.precomputed_dir is None:
                    parser.error("--backend precomputed needs --precomputed-dir")
                rows = import_rows(
                    args.precomputed_dir / cls / f"{vid}.mp4.npy",
                    class_offset=args.class_offset,
                    n_classes=len(args.classes),
                    n_frames=n,
                    width=w,
                    height=h,
                )
            save_rows(out, rows)
            mark_made(out, stamp)
        first = Image.open(next(folder.glob("*.jpg")))
        rows = load_rows(
            out,
            n_frames=int(row["frames"]),
            width=first.width,
            height=first.height,
            n_classes=len(args.classes),
        )
        found += int(len(rows) > 0)
        if args.truth_dir is not None:
            ious.append(
                truth_iou(
                    rows,
                    args.truth_dir / cls / f"{vid}.npy",
                    int(row["frames"]),
                    first.size,
                    args.frame_rate,
                    args.video_fps,
                )
            )
    summary = {
        "backend": args.backend,
        "settings": settings,
        "videos": len(videos),
        "with_detections": found,
        "reused": skipped,
    }
    if ious:
        every = np.concatenate(ious)
        summary |= {
            "truth_frames": int(every.size),
            "mean_iou": float(every.mean()),
            "share_iou_at_least_0.5": float((every >= 0.5).mean()),
        }
    write_json(args.summary, summary)
    print(json.dumps(summary), file=sys.stderr)


if __name__ == "__main__":
    main()
