"""The demo generator: formats, determinism, and that picture and motion carry the sound."""

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from iquery.pipeline.core.layout import Layout
from iquery.pipeline.datasets.demo.dataset import DemoSettings, make_demo_dataset
from iquery.pipeline.datasets.demo.naming import INSTRUMENT_PROGRAMS, demo_video_ids
from tests.conftest import need_tools

SETTINGS = dict(min_seconds=4, max_seconds=5, width=160, height=120, fps=8)
SOUNDFONT = "/usr/share/sounds/sf2/TimGM6mb.sf2"


def make_demo(root, classes, per_class, *, seed, **overrides):
    """The demo's videos under ``root`` in the workflow's layout (dataset name "demo")."""
    settings = DemoSettings(
        **(
            dict(classes=classes, videos_per_class=per_class, min_seconds=10, max_seconds=20)
            | dict(width=320, height=240, fps=10, sample_rate=44100, soundfont=SOUNDFONT)
            | overrides
        )
    )
    layout = Layout(str(root))
    ids = demo_video_ids(classes, per_class)
    make_demo_dataset(
        settings,
        videos=[layout.demo_video("demo", c, v) for c, v in ids],
        boxes=[layout.demo_boxes("demo", c, v) for c, v in ids],
        index=layout.demo_index("demo"),
        meta=layout.demo_meta("demo"),
        seed=seed,
        jobs=2,
    )
    return Path(layout.demo_source("demo"))


def decode(path, *args):
    return subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), *args, "-"], capture_output=True, check=True
    ).stdout


def video_frames(path, width=160, height=120):
    raw = decode(path, "-f", "rawvideo", "-pix_fmt", "rgb24")
    return np.frombuffer(raw, np.uint8).reshape(-1, height, width, 3).astype(np.float32)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    need_tools("ffmpeg", "fluidsynth")
    classes = ["cello", "flute", "xylophone"]
    return make_demo(tmp_path_factory.mktemp("demo"), classes, 1, seed=5, **SETTINGS)


def test_files_and_index(demo):
    index = json.loads((demo / "index.json").read_text())
    assert sorted(index["videos"]) == ["cello", "flute", "xylophone"]
    url = index["videos"]["cello"][0]
    assert url.startswith("file://") and url.endswith("/cello/cello-00.mp4")
    meta = json.loads((demo / "meta.json").read_text())
    assert len(meta["videos"]) == 3 and meta["videos"][0]["program"] == 42


def test_streams(demo):
    info = json.loads(
        subprocess.run(
            [
                "ffprobe",
                "-v",
                "error",
                "-show_streams",
                "-show_format",
                "-of",
                "json",
                str(demo / "flute" / "flute-00.mp4"),
            ],
            capture_output=True,
            check=True,
        ).stdout
    )
    video = next(s for s in info["streams"] if s["codec_type"] == "video")
    audio = next(s for s in info["streams"] if s["codec_type"] == "audio")
    assert video["codec_name"] == "h264" and audio["codec_name"] == "aac"
    assert int(audio["sample_rate"]) == 44100 and audio["channels"] == 2
    meta = {m["vid"]: m for m in json.loads((demo / "meta.json").read_text())["videos"]}
    assert abs(float(info["format"]["duration"]) - meta["flute-00"]["seconds"]) < 0.1


def test_boxes(demo):
    for cls in ("cello", "flute", "xylophone"):
        boxes = np.load(demo / "boxes" / cls / f"{cls}-00.npy")
        frames = video_frames(demo / cls / f"{cls}-00.mp4")
        assert boxes.shape == (len(frames), 4)
        assert (boxes[:, 0] >= 0).all() and (boxes[:, 2] <= 160).all()
        assert (boxes[:, 1] >= 0).all() and (boxes[:, 3] <= 120).all()
        assert ((boxes[:, 2] - boxes[:, 0]) > 5).all() and ((boxes[:, 3] - boxes[:, 1]) > 5).all()


def test_same_seed_same_video_other_seed_differs(demo, tmp_path):
    again = make_demo(tmp_path / "again", ["cello"], 1, seed=5, **SETTINGS)  # fewer classes
    first = demo / "cello" / "cello-00.mp4"
    assert np.array_equal(
        np.load(again / "boxes/cello/cello-00.npy"), np.load(demo / "boxes/cello/cello-00.npy")
    )
    pcm = ["-f", "s16le", "-ac", "1"]
    assert decode(again / "cello" / "cello-00.mp4", *pcm) == decode(first, *pcm)
    other = make_demo(tmp_path / "other", ["cello"], 1, seed=6, **SETTINGS)
    assert decode(other / "cello" / "cello-00.mp4", *pcm) != decode(first, *pcm)


def test_classes_look_different(demo):
    crops = {}
    for cls in ("cello", "flute", "xylophone"):
        box = np.load(demo / "boxes" / cls / f"{cls}-00.npy")[0]
        crops[cls] = (box[2] - box[0]) / (box[3] - box[1])
    assert crops["flute"] > 2 * crops["cello"]  # a long tube against an upright body


def test_motion_follows_the_sound(tmp_path):
    """Frame-to-frame change inside the instrument's box rises with the sound's loudness."""
    settings = SETTINGS | {"min_seconds": 12, "max_seconds": 12}
    source = make_demo(tmp_path, ["violin", "trumpet"], 1, seed=11, **settings)
    for cls in ("violin", "trumpet"):
        path = source / cls / f"{cls}-00.mp4"
        frames = video_frames(path)
        motion = np.abs(np.diff(frames, axis=0)).mean(axis=(1, 2, 3))
        pcm = np.frombuffer(decode(path, "-f", "s16le", "-ac", "1", "-ar", "8000"), "<i2")
        per_frame = 8000 // 8
        loud = np.array(
            [
                np.sqrt(np.mean(pcm[i * per_frame : (i + 1) * per_frame].astype(float) ** 2))
                for i in range(1, len(frames))
            ]
        )
        # Rests make loudness swing between silence and playing; the moving parts and the swell
        # of the drawing follow it, so the two series correlate clearly.
        r = np.corrcoef(motion[: len(loud)], loud[: len(motion)])[0, 1]
        assert r > 0.3, (cls, r)


def test_unknown_class():
    with pytest.raises(ValueError, match="'harp'"):
        demo_video_ids(["cello", "harp"], 2)


def test_background_detector_finds_the_demo_instruments(tmp_path):
    """IoU >= 0.5 with the generator's true box on at least 90 % of the extracted frames."""
    from iquery.pipeline.detection.background import background_boxes
    from iquery.pipeline.detection.summary import truth_iou
    from iquery.pipeline.media.ffmpeg import extract_frames

    classes = list(INSTRUMENT_PROGRAMS)
    source = make_demo(tmp_path, classes, 1, seed=3, min_seconds=10, max_seconds=12)
    ious = []
    for cls in classes:
        frames_dir = tmp_path / "frames" / cls
        count, _ = extract_frames(source / cls / f"{cls}-00.mp4", frames_dir, fps=1)
        frames = np.stack([jpeg(p) for p in sorted(frames_dir.glob("*.jpg"))])
        rows = background_boxes(frames)
        ious.append(
            truth_iou(rows, source / "boxes" / cls / f"{cls}-00.npy", count, (320, 240), 1.0, 10)
        )
    every = np.concatenate(ious)
    assert (every >= 0.5).mean() >= 0.9, [np.round(i, 2) for i in ious]


def jpeg(path):
    from PIL import Image

    return np.asarray(Image.open(path).convert("RGB"))
