"""Shards and the loader on a small dataset laid out as the stages leave it."""

import json

import h5py
import numpy as np
import pytest
import torch
from PIL import Image

from model.shard_dataset import ClipSpec, MixDataset, collate, read_shard_index
from workflow_scripts.detection import save_rows
from workflow_scripts.make_shards import ShardError
from workflow_scripts.make_shards import main as make_shards
from workflow_scripts.media import write_wav

CLASSES = ["cello", "flute", "violin"]


def lay_out(data, *, seconds=12, rate=11025, fps=1, motion=True):
    """Audio, frames, detections and motion for 2 videos per class, as the stages write them."""
    rng = np.random.default_rng(0)
    rows = []
    for c, cls in enumerate(CLASSES):
        for i in range(2):
            vid = f"{cls}-{i}"
            rows.append((cls, vid))
            tone = np.sin(2 * np.pi * (200 + 100 * c) * np.arange(seconds * rate) / rate)
            write_wav(data / "audio" / cls / f"{vid}.wav", (tone * 8000).astype(np.int16), rate)
            frames = data / "frames" / cls / f"{vid}.mp4"
            frames.mkdir(parents=True)
            for k in range(seconds * fps):
                pixels = rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(frames / f"{k + 1:06d}.jpg")
            det = [[k + 1, c, 0.9, 20, 10, 120, 100] for k in range(0, seconds * fps, 2)]
            save_rows(data / "detection_results" / cls / f"{vid}.mp4.npy", np.array(det))
            if motion:
                path = data / "motion_features" / cls / f"{vid}.mp4.npz"
                path.parent.mkdir(parents=True, exist_ok=True)
                t = 2 + i
                np.savez(
                    path,
                    extractor=np.array("i3d-test"),
                    weights_sha256=np.array("random"),
                    tokens=rng.normal(size=(t, 8)).astype(np.float32),
                    spans=np.stack([np.arange(t) * 8, np.arange(t) * 8 + 8], 1),
                )
    splits = data / "splits"
    splits.mkdir(parents=True)
    (splits / "train.tsv").write_text("class\tvid\n" + "".join(f"{c}\t{v}\n" for c, v in rows))
    return rows


def build(data, *extra):
    make_shards(
        [
            "--data-dir",
            str(data),
            "--split",
            "train",
            "--classes",
            *CLASSES,
            "--frame-rate",
            "1",
            "--crop-side",
            "72",
            "--motion-dir",
            str(data / "motion_features"),
            "--out-index",
            str(data / "shards" / "train.json"),
            *extra,
        ]
    )


@pytest.fixture
def shards(tmp_path):
    data = tmp_path / "demo"
    lay_out(data)
    build(data, "--max-mb", "0.05")  # small, so the split spans several shards
    return data


def test_shard_contents(shards):
    index = json.loads((shards / "shards" / "train.json").read_text())
    assert len(index["shards"]) > 1
    refs = read_shard_index(shards / "shards" / "train.json")
    assert len(refs) == 6 and {r.class_index for r in refs} == {0, 1, 2}
    with h5py.File(shards / "shards" / index["shards"][0]["file"]) as h5:
        assert json.loads(h5.attrs["classes"]) == CLASSES
        g = h5["videos/cello/cello-0"]
        assert g["audio"].dtype == np.int16 and len(g["audio"]) == 12 * 11025
        assert len(g["frames"]) == 12 and g["boxes"].shape == (12, 4)
        # Frames without a detection take the whole frame.
        assert g["boxes"][1].tolist() == [0, 0, 160, 120] and g["boxes"][0].tolist() == [
            20,
            10,
            120,
            100,
        ]
        crop = Image.open(__import__("io").BytesIO(g["frames"][0].tobytes()))
        assert min(crop.size) == 72 and crop.size == (80, 72)  # the 100x90 box, shorter side 72
        assert g["motion"].dtype == np.float16
        assert g.attrs["motion_extractor"] == "i3d-test" and len(h5.attrs["config_hash"]) == 16


def test_rebuild_one_shard_alone(shards):
    index = json.loads((shards / "shards" / "train.json").read_text())
    last = shards / "shards" / index["shards"][-1]["file"]
    first = shards / "shards" / index["shards"][0]["file"]
    before = first.stat().st_mtime_ns
    last.unlink()
    build(shards, "--max-mb", "0.05", "--only", str(len(index["shards"]) - 1))
    assert last.is_file() and first.stat().st_mtime_ns == before


def test_training_samples(shards):
    refs = read_shard_index(shards / "shards" / "train.json")
    spec = ClipSpec(clip_samples=4096, num_frames=3, frame_size=64)
    ds = MixDataset(refs, spec=spec, seed=7, dup=2)
    assert len(ds) == 12
    a, b = ds[3], ds[3]
    assert torch.equal(a["audio"], b["audio"]) and torch.equal(a["frames"], b["frames"])
    assert a["audio"].shape == (2, 4096) and a["frames"].shape == (2, 3, 3, 64, 64)
    assert a["class_index"][0] != a["class_index"][1]
    assert a["audio"].abs().max() <= 1.0
    ds.set_epoch(1)
    assert not torch.equal(ds[3]["audio"], a["audio"])
    batch = collate([ds[i] for i in range(4)])
    assert batch["motion"].shape[:2] == (4, 2) and batch["motion"].shape[3] == 8
    lengths = (~batch["motion_padding"]).sum(-1)
    assert set(lengths.flatten().tolist()) <= {2, 3}
    assert (batch["motion"][batch["motion_padding"]] == 0).all()


def test_same_seed_same_batch_with_workers(shards):
    refs = read_shard_index(shards / "shards" / "train.json")
    spec = ClipSpec(clip_samples=2048, frame_size=32)

    def first_batch(workers):
        ds = MixDataset(refs, spec=spec, seed=3, dup=1, use_motion=False)
        loader = torch.utils.data.DataLoader(
            ds, batch_size=4, num_workers=workers, collate_fn=collate
        )
        return next(iter(loader))

    a, b = first_batch(0), first_batch(2)
    assert torch.equal(a["audio"], b["audio"]) and torch.equal(a["frames"], b["frames"])


def test_test_pairs_at_centre(shards):
    refs = read_shard_index(shards / "shards" / "train.json")
    pairs = [(("cello", "cello-0"), ("flute", "flute-1"))]
    ds = MixDataset(refs, spec=ClipSpec(clip_samples=4096, frame_size=64), pairs=pairs)
    one, two = ds[0], ds[0]
    assert len(ds) == 1 and torch.equal(one["frames"], two["frames"])
    with pytest.raises(ValueError, match="absent from the shards"):
        MixDataset(refs, pairs=[(("cello", "nope"), ("flute", "flute-1"))])


def test_missing_motion_and_truncated_shard(tmp_path):
    data = tmp_path / "demo"
    lay_out(data)
    motion = data / "motion_features" / "flute" / "flute-1.mp4.npz"
    saved = motion.read_bytes()
    motion.unlink()
    with pytest.raises(ShardError, match="flute-1.mp4.npz"):
        build(data)
    assert not list((data / "shards").glob("*.h5"))  # nothing half-written
    motion.write_bytes(saved)
    build(data, "--max-mb", "1")
    shard = data / "shards" / "train-000.h5"
    shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 3])
    with pytest.raises(ValueError, match="train-000.h5"):
        read_shard_index(data / "shards" / "train.json")


def test_frames_are_uint8_until_normalised(shards):
    from model.shard_dataset import IMAGENET_MEAN, normalize_frames

    refs = read_shard_index(shards / "shards" / "train.json")
    sample = MixDataset(refs, spec=ClipSpec(clip_samples=1024, frame_size=32), seed=1)[0]
    assert sample["frames"].dtype == torch.uint8
    grey = torch.full((3, 1, 2, 2), 255, dtype=torch.uint8)
    grey[:] = torch.tensor((IMAGENET_MEAN * 255).round()).view(3, 1, 1, 1).to(torch.uint8)
    assert normalize_frames(grey).abs().max() < 0.01  # the mean maps to zero
