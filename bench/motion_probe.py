"""Do the motion tokens carry motion? A linear probe, fitted on the training videos' tokens and
scored on the validation videos, predicts from a token alone how loud its stretch of the video is
and how much the sound rises there (onsets), within each video
(``iquery/pipeline/motion/probe.py``).
The learned encoder's tokens and the random-weight network's, of the same frames, side by side.

    python bench/motion_probe.py [--data data] [--dataset demo] \
        [--weights data/demo/motion_encoder/i3d.pt] [--out results/demo/motion_probe]

Needs the demo preprocessed with the learned encoder (``snakemake --cores 2 preprocess_demo``).
The frames are decoded as the motion stage decodes them, with its settings (config.yaml's motion
block and the dataset's overrides), and the random network is the one the motion stage builds
without weights (``motion.init_seed``, else the workflow's seed). Prints the table and writes
OUT/probe.json and OUT/probe.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from iquery.pipeline.core.files import write_json  # noqa: E402
from iquery.pipeline.core.layout import Layout  # noqa: E402
from iquery.pipeline.datasets.indexes import Video  # noqa: E402
from iquery.pipeline.datasets.splits import used_videos  # noqa: E402
from iquery.pipeline.media.ffmpeg import read_wav  # noqa: E402
from iquery.pipeline.motion.probe import TARGETS, ProbeData, probe_scores, span_targets  # noqa: E402
from iquery.pipeline.stages.batches import read_tables  # noqa: E402
from iquery.pipeline.stages.framework import StageJob  # noqa: E402
from iquery.pipeline.stages.motion import MotionSettings, frames_at_rate  # noqa: E402


def motion_settings(dataset: str) -> MotionSettings:
    import yaml

    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    return MotionSettings.from_config(config, dataset, "motion")


def tokens_of(settings: MotionSettings, weights: str | None, folders: dict) -> dict:
    """Each video's (tokens, spans) from the network with ``weights`` (None: random)."""
    import torch

    from iquery.pipeline.motion.extractor import MotionExtractor

    torch.manual_seed(settings.random_seed)
    network = MotionExtractor(
        settings.backbone, weights, device="cpu", resize_short=settings.resize_short
    )
    out = {}
    for key, folder in folders.items():
        found = network.extract_clips(
            folder, settings.frame_rate, settings.window_frames, max_frames=settings.max_frames
        )
        out[key] = (np.asarray(found.tokens, np.float64), np.asarray(found.spans, np.float64))
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="data")
    parser.add_argument("--dataset", default="demo")
    parser.add_argument("--weights", default=None, help="default: data/DATASET/motion_encoder")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    layout = Layout(data=args.data)
    weights = args.weights or layout.motion_encoder(args.dataset)
    out = args.out or Path("results") / args.dataset / "motion_probe"
    settings = motion_settings(args.dataset)
    if settings.window_frames is None:
        raise SystemExit("the probe reads windowed tokens: set motion.window_frames")
    splits = {s: used_videos([layout.split(args.dataset, s)]) for s in ("train", "val")}
    records = read_tables(
        sorted(Path(layout.dataset(args.dataset), "records").glob("frames-*.json"))
    )
    job = StageJob(layout, args.dataset, settings)
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="probe-") as scratch:
        folders = {}
        for split, keys in splits.items():
            for cls, vid in keys:
                where = Path(scratch) / cls / vid
                where.mkdir(parents=True)
                info = records[(cls, vid)]["info"]
                folders[(split, cls, vid)] = frames_at_rate(job, Video(cls, vid, ""), info, where)
        found = {
            name: tokens_of(settings, w, folders)
            for name, w in (("random", None), ("learned", weights))
        }
    sounds = {}
    for split, cls, vid in folders:
        samples, rate = read_wav(layout.audio(args.dataset, cls, vid))
        sounds[(split, cls, vid)] = (samples.astype(np.float32) / 32768.0, rate)

    def data(name: str, split: str) -> ProbeData:
        per_video = []
        for key, (tokens, spans) in found[name].items():
            if key[0] == split:
                sound, rate = sounds[key]
                per_video.append((tokens, span_targets(sound, rate, spans)))
        return ProbeData.of(per_video)

    scores = {name: probe_scores(data(name, "train"), data(name, "val")) for name in found}
    difference = scores["learned"]["draws"] - scores["random"]["draws"]
    table = {}
    for j, target in enumerate(TARGETS):
        row = {}
        for name in ("random", "learned"):
            low, high = np.percentile(scores[name]["draws"][:, j], [2.5, 97.5])
            row[name] = {"r2": float(scores[name]["r2"][j]), "interval": [float(low), float(high)]}
        low, high = np.percentile(difference[:, j], [2.5, 97.5])
        gap = float(scores["learned"]["r2"][j] - scores["random"]["r2"][j])
        row["learned_minus_random"] = {"r2": gap, "interval": [float(low), float(high)]}
        table[target] = row
    result = {
        "targets": table,
        "train_videos": len(splits["train"]),
        "val_videos": len(splits["val"]),
        "tokens": {name: sum(len(t) for t, _ in v.values()) for name, v in found.items()},
        "weights": str(weights),
        "motion": json.loads(settings.to_json()),
        "interval": "95 %, drawing the validation videos again (2000 draws)",
        "seconds": round(time.time() - started, 1),
    }
    lines = [
        f"Probe R² on {len(splits['val'])} validation videos (fitted on {len(splits['train'])} "
        "training videos), within videos, 95 % intervals over the validation videos:",
        "",
        "| target | random-weight tokens | learned tokens | learned − random |",
        "|---|---|---|---|",
    ]
    for target, row in table.items():
        cells = [
            f"{row[k]['r2']:.3f} [{row[k]['interval'][0]:.3f}, {row[k]['interval'][1]:.3f}]"
            for k in ("random", "learned", "learned_minus_random")
        ]
        lines.append(f"| {target} | " + " | ".join(cells) + " |")
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "probe.json", result)
    (out / "probe.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return result


if __name__ == "__main__":
    main()
