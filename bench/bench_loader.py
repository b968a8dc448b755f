"""Samples per second: the HDF5 shard loader against reading the original layout.

    python bench/bench_loader.py [--videos 24] [--seconds 90] [--samples 96]

The original layout is what the published code reads per training sample: for each of the two
sources the whole WAV file, three full-size JPEGs, the detection .npy, and the motion .npy
holding the I3D feature map (1024 x T/8 x H/32 x W/32, pooled on load). Both loaders produce
the same sample at the paper's sizes (65535 samples, 3 frames at 224 x 224), with 0, 1 and 2
DataLoader workers. Figures are printed, not checked; peak memory is the process's max RSS.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
import wave
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from iquery.cli.index_shards import main as index_shards  # noqa: E402
from iquery.cli.make_shard import main as make_shard  # noqa: E402
from iquery.model.shard_dataset import (  # noqa: E402
    IMAGENET_MEAN,
    IMAGENET_STD,
    ClipSpec,
    MixDataset,
    collate,
    read_shard_index,
)
from iquery.pipeline.core.layout import Layout, deal_to_shards  # noqa: E402
from iquery.pipeline.detection.rows import save_rows, select_boxes  # noqa: E402
from iquery.pipeline.media.ffmpeg import write_wav  # noqa: E402
from iquery.pipeline.motion.tokens import MotionTokens, save_tokens  # noqa: E402

RATE, CLASSES = 11025, ["accordion", "cello", "flute", "violin"]
PAPER_CLIP = ClipSpec(clip_samples=65535, num_frames=3, frame_stride=1, frame_size=224)


def make_layout(root: Path, videos: int, seconds: int, size=(1280, 720)) -> list[tuple[str, str]]:
    """Real-sized media in the original layout: noise audio, textured JPEGs at the size the
    published download (`-f best`, mostly 720p) gives."""
    rng = np.random.default_rng(0)
    keys = []
    base = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    for i in range(videos):
        cls, vid = CLASSES[i % len(CLASSES)], f"v{i:03d}"
        keys.append((cls, vid))
        audio = (rng.normal(0, 3000, seconds * RATE)).astype(np.int16)
        write_wav(root / "audio" / cls / f"{vid}.wav", audio, RATE)
        frames = root / "frames" / cls / f"{vid}.mp4"
        frames.mkdir(parents=True)
        for k in range(seconds):
            Image.fromarray(np.roll(base, 7 * k + i, axis=1)).save(frames / f"{k + 1:06d}.jpg")
        det = [[k + 1, 0, 0.9, 200, 80, 840, 660] for k in range(seconds)]
        save_rows(root / "detection_results" / cls / f"{vid}.mp4.npy", np.array(det))
        t = int(np.ceil(min(seconds, 160) / 8))
        feature_map = rng.normal(size=(1024, t, size[1] // 32, size[0] // 32)).astype(np.float32)
        (root / "motion_features" / cls).mkdir(parents=True, exist_ok=True)
        np.save(root / "motion_features" / cls / f"{vid}.mp4.npy", feature_map)
        tokens = MotionTokens(
            tokens=feature_map.max(axis=(2, 3)).T,
            spans=np.zeros((t, 2), np.float32),
            clip_index=np.zeros(t, np.int32),
            windows=np.array([[0, seconds]], np.float32),
            extractor="random",
            weights_sha256="random",
            frame_rate=1.0,
            num_frames=seconds,
            frame_size=(size[1], size[0]),
        )
        save_tokens(root / "motion_features" / cls / f"{vid}.mp4.npz", tokens)
    return keys


def build_shards(layout: Layout, keys, per_shard: int = 64) -> Path:
    """The train split's shards and index, as the workflow's shard rules make them."""
    shards = []
    for k, group in enumerate(deal_to_shards(keys, per_shard)):
        shards.append(layout.shard("bench", "train", k))
        args = ["--dataset", "bench", "--split", "train", "--shard", str(k)]
        recipe = {"stages": {"frames": {"frame_rate": 1}}, "shards": {"crop_side": 246}}
        args += ["--classes", *CLASSES, "--recipe", json.dumps(recipe | {"box_rule": "top"})]
        args += ["--videos", *[f"{c}/{v}" for c, v in group]]
        for flag, path in (
            ("--audio", layout.audio),
            ("--frames", layout.frames),
            ("--detections", layout.detections),
            ("--motion", layout.motion),
        ):
            args += [flag, *[path("bench", c, v) for c, v in group]]
        make_shard(args + ["--out", shards[-1]])
    index = layout.shard_index("bench", "train")
    index_shards(["--split", "train", "--shards", *shards, "--out", index])
    return Path(index)


class OriginalLayoutDataset(torch.utils.data.Dataset):
    """Reads as the published loader does: whole files per sample, crops on the fly."""

    def __init__(self, root: Path, keys, n: int, seconds: int):
        self.root, self.keys, self.n, self.seconds = root, keys, n, seconds

    def __len__(self):
        return self.n

    def _source(self, cls, vid, rng):
        with wave.open(str(self.root / "audio" / cls / f"{vid}.wav")) as w:
            audio = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32)
        centre = int(rng.integers(2, self.seconds))
        start = max(0, round((centre - 0.5) * RATE) - 65535 // 2)
        clip = np.zeros(65535, np.float32)
        piece = audio[start : start + 65535] / 32768
        clip[: len(piece)] = piece
        rows = np.load(self.root / "detection_results" / cls / f"{vid}.mp4.npy")
        frames = []
        flip, offset = rng.random() < 0.5, None
        for k in (centre - 1, centre, centre + 1):
            image = Image.open(self.root / "frames" / cls / f"{vid}.mp4" / f"{k:06d}.jpg")
            box = select_boxes(rows, self.seconds, width=image.width, height=image.height)[k - 1]
            image = image.crop(tuple(int(v) for v in box))
            scale = 246 / min(image.size)
            image = image.resize((round(image.width * scale), round(image.height * scale)))
            if offset is None:
                offset = (
                    int(rng.integers(0, image.width - 223)),
                    int(rng.integers(0, image.height - 223)),
                )
            array = np.asarray(image.crop((*offset, offset[0] + 224, offset[1] + 224)), np.float32)
            array = array[:, ::-1] if flip else array
            frames.append((array / 255 - IMAGENET_MEAN) / IMAGENET_STD)
        motion = np.load(self.root / "motion_features" / cls / f"{vid}.mp4.npy").max(axis=(2, 3))
        return (
            torch.from_numpy(clip),
            torch.from_numpy(np.stack(frames).transpose(3, 0, 1, 2)),
            torch.from_numpy(motion.T.copy()),
        )

    def __getitem__(self, index):
        rng = np.random.default_rng(index)
        first = self.keys[index % len(self.keys)]
        second = self.keys[(index + 1) % len(self.keys)]
        a, b = self._source(*first, rng), self._source(*second, rng)
        return {
            "audio": torch.stack([a[0], b[0]]),
            "frames": torch.stack([a[1], b[1]]),
            "class_index": torch.tensor([0, 1]),
            "motion": [a[2], b[2]],
        }


def rate(dataset, workers: int, samples: int, batch: int = 8) -> float:
    """Samples per second after the first batch (worker start-up is not the loader's speed)."""
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=batch,
        num_workers=workers,
        collate_fn=collate,
        prefetch_factor=4 if workers else None,
    )
    batches = iter(loader)
    next(batches)
    start, seen = time.perf_counter(), 0
    for b in batches:
        seen += b["audio"].shape[0]
        if seen >= samples:
            break
    return seen / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", type=int, default=24)
    parser.add_argument("--seconds", type=int, default=90)
    parser.add_argument("--samples", type=int, default=96, help="samples timed per case")
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        layout = Layout(tmp)
        root = Path(layout.dataset("bench"))  # the original layout, as the stages write it
        keys = make_layout(root, args.videos, args.seconds)
        t0 = time.perf_counter()
        index = build_shards(layout, keys)
        build_s = time.perf_counter() - t0
        shard_mb = sum(p.stat().st_size for p in (root / "shards").glob("*.h5")) / 2**20
        layout_mb = (
            sum(
                p.stat().st_size
                for p in root.rglob("*")
                if p.is_file() and "shards" not in p.parts and not p.name.endswith(".npz")
            )
            / 2**20
        )
        refs = read_shard_index(index)
        ours = MixDataset(refs, spec=PAPER_CLIP, frame_rate=1, dup=100, seed=0)
        original = OriginalLayoutDataset(root, keys, len(ours), args.seconds)
        print(
            f"{args.videos} videos x {args.seconds} s; original layout {layout_mb:.0f} MB, "
            f"shards {shard_mb:.0f} MB (built in {build_s:.1f} s)"
        )
        print(f"{'workers':>7} {'original samples/s':>19} {'shards samples/s':>17} {'ratio':>6}")
        for workers in (0, 1, 2):
            slow = rate(original, workers, args.samples // 2)
            fast = rate(ours, workers, args.samples)
            print(f"{workers:>7} {slow:19.1f} {fast:17.1f} {fast / slow:6.1f}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"peak RSS: main process {peak:.0f} MB, largest worker {children:.0f} MB")


if __name__ == "__main__":
    main()
