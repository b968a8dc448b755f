"""Shards and the loader on a small dataset laid out as the stages leave it."""

import io
import json
import wave
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from PIL import Image

from iquery.cli.index_shards import main as index_shards
from iquery.cli.make_shard import main as make_shard
from iquery.model.shard_dataset import ClipSpec, MixDataset, collate, read_shard_index
from iquery.pipeline.core.files import write_json
from iquery.pipeline.core.layout import Layout, deal_to_shards
from iquery.pipeline.detection.rows import save_rows
from iquery.pipeline.media.ffmpeg import write_wav
from iquery.pipeline.motion.tokens import MotionTokens, save_tokens
from iquery.pipeline.stages.shards import verify_shard

CLASSES = ["cello", "flute", "violin"]


def lay_out(data, *, seconds=12, rate=11025, fps=1, motion=True):
    """Audio, frames, detections and motion for 2 videos per class where the stages write
    them (``Layout(data)``, dataset "demo"); returns the videos."""
    layout = Layout(str(data))
    rng = np.random.default_rng(0)
    rows = []
    for c, cls in enumerate(CLASSES):
        for i in range(2):
            vid = f"{cls}-{i}"
            rows.append((cls, vid))
            tone = np.sin(2 * np.pi * (200 + 100 * c) * np.arange(seconds * rate) / rate)
            write_wav(layout.audio("demo", cls, vid), (tone * 8000).astype(np.int16), rate)
            frames = Path(layout.frames("demo", cls, vid))
            frames.mkdir(parents=True)
            for k in range(seconds * fps):
                pixels = rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(frames / f"{k + 1:06d}.jpg")
            det = [[k + 1, c, 0.9, 20, 10, 120, 100] for k in range(0, seconds * fps, 2)]
            save_rows(layout.detections("demo", cls, vid), np.array(det))
            if motion:
                t = 2 + i
                tokens = MotionTokens(
                    tokens=rng.normal(size=(t, 8)).astype(np.float32),
                    spans=np.stack([np.arange(t) * 8, np.arange(t) * 8 + 8], 1),
                    clip_index=np.zeros(t, dtype=np.int32),
                    windows=np.array([[0.0, seconds]], dtype=np.float32),
                    extractor="i3d-test",
                    weights_sha256="random",
                    frame_rate=float(fps),
                    num_frames=seconds * fps,
                    frame_size=(120, 160),
                )
                save_tokens(layout.motion("demo", cls, vid), tokens)
    return rows


def shard_args(data, videos, k, *, split="train", motion=True, fps=1):
    """The command line the shard rule gives one shard of a split."""
    layout = Layout(str(data))
    keys = [f"{c}/{v}" for c, v in videos]
    recipe = {"stages": {"frames": {"frame_rate": fps}}, "shards": {"crop_side": 72}}
    recipe |= {"box_rule": "top"}
    args = ["--dataset", "demo", "--split", split, "--shard", str(k), "--classes", *CLASSES]
    args += ["--recipe", json.dumps(recipe), "--videos", *keys]
    args += ["--audio", *[layout.audio("demo", c, v) for c, v in videos]]
    args += ["--frames", *[layout.frames("demo", c, v) for c, v in videos]]
    args += ["--detections", *[layout.detections("demo", c, v) for c, v in videos]]
    if motion:
        args += ["--motion", *[layout.motion("demo", c, v) for c, v in videos]]
    return args + ["--out", layout.shard("demo", split, k)]


def build(data, videos, per_shard=6, split="train"):
    """A split's shards and index, as the shard and shard_index rules make them."""
    layout = Layout(str(data))
    groups = deal_to_shards(videos, per_shard)
    for k, group in enumerate(groups):
        make_shard(shard_args(data, group, k, split=split))
    shards = [layout.shard("demo", split, k) for k in range(len(groups))]
    index = layout.shard_index("demo", split)
    index_shards(["--split", split, "--shards", *shards, "--out", index])
    return Path(index)


@pytest.fixture
def shards(tmp_path):
    data = tmp_path / "data"
    build(data, lay_out(data), per_shard=4)  # the split spans two shards
    return data / "demo"


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


def test_index_names_each_shards_videos_in_order(shards):
    index = json.loads((shards / "shards" / "train.json").read_text())
    assert [e["file"] for e in index["shards"]] == ["train-000.h5", "train-001.h5"]
    assert [len(e["videos"]) for e in index["shards"]] == [4, 2]
    assert index["shards"][1]["videos"] == [["violin", "violin-0"], ["violin", "violin-1"]]
    assert len(index["config_hash"]) == 16


def test_training_samples(shards):
    refs = read_shard_index(shards / "shards" / "train.json")
    spec = ClipSpec(clip_samples=4096, num_frames=3, frame_stride=1, frame_size=64)
    ds = MixDataset(refs, spec=spec, frame_rate=1, seed=7, dup=2)
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
    spec = ClipSpec(clip_samples=2048, num_frames=3, frame_stride=1, frame_size=32)

    def first_batch(workers):
        ds = MixDataset(refs, spec=spec, frame_rate=1, seed=3, dup=1, use_motion=False)
        loader = torch.utils.data.DataLoader(
            ds, batch_size=4, num_workers=workers, collate_fn=collate
        )
        return next(iter(loader))

    a, b = first_batch(0), first_batch(2)
    assert torch.equal(a["audio"], b["audio"]) and torch.equal(a["frames"], b["frames"])


def test_test_pairs_at_centre(shards):
    """A test pair reads each video's centre clip: frames n//2 .. n//2 + 2 (1-based, of 12) as
    the shard stores them, and the audio samples centred on the middle frame's time, 6.5 s."""
    refs = read_shard_index(shards / "shards" / "train.json")
    pairs = [(("cello", "cello-0"), ("flute", "flute-1"))]
    # Frames at the crops' own size (72): the test path then decodes them without resizing.
    spec = ClipSpec(clip_samples=4096, num_frames=3, frame_stride=1, frame_size=72)
    ds = MixDataset(refs, spec=spec, frame_rate=1, pairs=pairs, use_motion=False)
    sample = ds[0]
    assert len(ds) == 1 and torch.equal(sample["frames"], ds[0]["frames"])
    layout = Layout(str(shards.parent))
    for slot, (cls, vid) in enumerate(pairs[0]):
        ref = next(r for r in refs if (r.cls, r.vid) == (cls, vid))
        with h5py.File(ref.shard) as h5:
            jpegs = [h5[f"videos/{cls}/{vid}/frames"][k].tobytes() for k in (5, 6, 7)]
        crops = [np.asarray(Image.open(io.BytesIO(j)).convert("RGB")) for j in jpegs]
        # One crop window for the clip, centred on its first frame (crops differ in width).
        y, x = ((side - 72) // 2 for side in crops[0].shape[:2])
        centred = [c[min(y, len(c) - 72) :][:72, min(x, c.shape[1] - 72) :][:, :72] for c in crops]
        expected = torch.from_numpy(np.stack(centred)).permute(3, 0, 1, 2)
        assert torch.equal(sample["frames"][slot], expected), (cls, vid)
        with wave.open(layout.audio("demo", cls, vid)) as w:
            wav = np.frombuffer(w.readframes(w.getnframes()), "<i2")
        start = round(6.5 * 11025) - 2048
        expected_audio = torch.from_numpy(wav[start : start + 4096].astype(np.float32) / 32768)
        assert torch.equal(sample["audio"][slot], expected_audio), (cls, vid)
    with pytest.raises(ValueError, match="absent from the shards"):
        MixDataset(refs, spec=spec, frame_rate=1, pairs=[(("cello", "nope"), ("flute", "flute-1"))])
    with pytest.raises(ValueError, match="need a seed"):
        MixDataset(refs, spec=spec, frame_rate=1)


def test_missing_motion_and_truncated_shard(tmp_path):
    data = tmp_path / "data"
    videos = lay_out(data)
    motion = data / "demo" / "motion_features" / "flute" / "flute-1.mp4.npz"
    saved = motion.read_bytes()
    motion.unlink()
    with pytest.raises(
        SystemExit, match="flute-1.mp4.npz is missing: run again with --forcerun motion"
    ):
        build(data, videos)
    assert not list((data / "demo" / "shards").glob("*.h5*"))  # nothing half-written
    motion.write_bytes(saved)
    index = build(data, videos)
    shard = data / "demo" / "shards" / "train-000.h5"
    shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 3])
    with pytest.raises(ValueError, match="train-000.h5: truncated"):
        read_shard_index(index)


def test_frames_are_uint8_until_normalised(shards):
    from iquery.model.shard_dataset import IMAGENET_MEAN, normalize_frames

    refs = read_shard_index(shards / "shards" / "train.json")
    spec = ClipSpec(clip_samples=1024, num_frames=3, frame_stride=1, frame_size=32)
    sample = MixDataset(refs, spec=spec, frame_rate=1, seed=1)[0]
    assert sample["frames"].dtype == torch.uint8
    grey = torch.full((3, 1, 2, 2), 255, dtype=torch.uint8)
    grey[:] = torch.tensor((IMAGENET_MEAN * 255).round()).view(3, 1, 1, 1).to(torch.uint8)
    assert normalize_frames(grey).abs().max() < 0.01  # the mean maps to zero


def test_a_killed_writers_temp_files_are_removed(shards):
    """What a killed shard job left beside its output goes with the next attempt."""
    index = shards / "shards" / "train.json"
    left = [shards / "shards" / ".train.json.k1ll3d.tmp", shards / "shards" / ".train.json.x.tmp"]
    for path in left:
        path.write_text("half")
    other = shards / "shards" / ".val.json.k1ll3d.tmp"
    other.write_text("someone else's")
    write_json(index, json.loads(index.read_text()))
    assert not any(p.exists() for p in left) and other.exists()


def flip(path, offset, count=200):
    """Invert ``count`` bytes of a file from ``offset`` on, as a bad disk or copy would."""
    data = bytearray(path.read_bytes())
    data[offset : offset + count] = bytes(b ^ 0xFF for b in data[offset : offset + count])
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("item", ["audio", "frame", "motion"])
def test_a_corrupt_item_is_named_with_the_command_that_rebuilds_it(shards, item):
    """Flipped bytes inside a shard's data are caught on read, never trained on silently."""
    from iquery.pipeline.core.errors import ShardError

    index = shards / "shards" / "train.json"
    refs = {(r.cls, r.vid): r for r in read_shard_index(index)}
    ref = refs[("flute", "flute-1")]
    spec = ClipSpec(clip_samples=4096, num_frames=3, frame_stride=1, frame_size=64)
    pairs = [(("flute", "flute-1"), ("cello", "cello-0"))]
    clean = MixDataset(list(refs.values()), spec=spec, frame_rate=1, pairs=pairs)[0]
    with h5py.File(ref.shard) as h5:
        g = h5["videos/flute/flute-1"]
        if item == "frame":  # the centre frame the test clip reads; JPEGs sit in the heap
            offset = ref.shard.read_bytes().find(g["frames"][6].tobytes()) + 100
        else:  # the start of the chunk holding the centre of the clip (frame 7's middle)
            data = g[item]
            where = round(6.5 * 11025) if item == "audio" else 0
            start = where - where % data.chunks[0]
            corner = (start,) + (0,) * (data.ndim - 1)
            offset = data.id.get_chunk_info_by_coord(corner).byte_offset
    flip(ref.shard, offset)  # over a small chunk, its Fletcher-32 sum is inverted too
    dataset = MixDataset(list(refs.values()), spec=spec, frame_rate=1, pairs=pairs)
    with pytest.raises(ShardError) as corrupt:
        dataset[0]
    message = str(corrupt.value)
    assert str(ref.shard) in message and "flute/flute-1" in message and "corrupt" in message
    assert f"snakemake --cores 1 --force {ref.shard}" in message
    assert clean["audio"].shape == (2, 4096)
    assert verify_shard(ref.shard) and not verify_shard(shards / "shards" / "train-001.h5")
