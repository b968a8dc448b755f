"""Shared fixtures: small media made with ffmpeg's test sources, and cut-down real index lists."""

from __future__ import annotations

import contextlib
import http.server
import os
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
INDEX_LISTS = Path(__file__).resolve().parent / "data" / "index"

pytest_plugins = ["tests.strict_skips", "pytester"]

# One thread per process: on 2 cores, oversubscription makes tiny ops very slow.
os.environ.setdefault("OMP_NUM_THREADS", "1")


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args], check=True)


def make_video(
    path: Path,
    *,
    seconds: float = 8.0,
    size: str = "320x240",
    rate: int = 25,
    audio: str | None = "sine=frequency=440:sample_rate=44100",
    channels: int = 2,
    extra: tuple[str, ...] = (),
    faststart: bool = True,
) -> Path:
    """An H.264/AAC MP4 from lavfi test sources; ``audio=None`` gives one without a sound track."""
    path.parent.mkdir(parents=True, exist_ok=True)
    args = ["-f", "lavfi", "-i", f"testsrc2=duration={seconds}:size={size}:rate={rate}"]
    if audio:
        args += ["-f", "lavfi", "-i", f"{audio}:duration={seconds}"]
    args += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    if audio:
        args += ["-c:a", "aac", "-ac", str(channels)]
    if faststart:
        args += ["-movflags", "+faststart"]
    ffmpeg(*args, *extra, str(path))
    return path


@pytest.fixture(scope="session")
def media(tmp_path_factory) -> dict[str, Path]:
    """Good and bad inputs, made once per test session."""
    root = tmp_path_factory.mktemp("media")
    out = {
        "good": make_video(root / "good.mp4"),
        "no_audio": make_video(root / "no_audio.mp4", audio=None),
        "short": make_video(root / "short.mp4", seconds=2),
        "surround": make_video(
            root / "surround.mp4",
            audio="sine=frequency=300:sample_rate=48000",
            channels=6,
        ),
        "portrait": make_video(root / "portrait.mp4", size="240x320"),
    }
    # Phone footage: the picture runs on after the sound stops (10 s of video, 7 s of audio).
    out["long_video"] = root / "long_video.mp4"
    ffmpeg(
        *("-f", "lavfi", "-i", "testsrc2=duration=10:size=320x240:rate=25"),
        *("-f", "lavfi", "-i", "sine=frequency=330:sample_rate=44100:duration=7"),
        *("-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac"),
        *("-movflags", "+faststart", str(out["long_video"])),
    )
    # Variable frame rate: drop frames irregularly and keep their original timestamps.
    out["vfr"] = make_video(
        root / "vfr.mp4",
        extra=("-vf", "select='lt(mod(n,10),3)+between(n,100,140)'", "-fps_mode", "vfr"),
    )
    # Truncated: a faststart file cut in half keeps a readable header but loses half its data;
    # a plain file cut in half loses its index (moov) and cannot even be opened.
    for name, faststart in (("truncated", True), ("truncated_nomoov", False)):
        whole = make_video(root / f"{name}_whole.mp4", seconds=10, faststart=faststart)
        data = whole.read_bytes()
        (root / f"{name}.mp4").write_bytes(data[: len(data) // 2])
        out[name] = root / f"{name}.mp4"
    out["not_video"] = root / "not_video.mp4"
    out["not_video"].write_text("this is not a video\n")
    return out


# The tone dataset's test pairs: class, video, class, video.
TONE_PAIRS = [
    ("cello", "cello-0", "flute", "flute-1"),
    ("violin", "violin-1", "cello", "cello-1"),
    ("flute", "flute-0", "violin", "violin-0"),
]


@pytest.fixture(scope="session")
def data(tmp_path_factory):
    """A tiny dataset "demo" of tones (3 classes × 2 videos, tests/test_shards.py's layout) as
    train, val and test shards with TONE_PAIRS as its test pairs: its Layout. Built once for
    every module that trains on it; tests read it and never change it."""
    from iquery.pipeline.core.layout import Layout
    from iquery.pipeline.datasets.splits import write_pairs
    from tests.test_shards import build, lay_out

    root = tmp_path_factory.mktemp("training")
    videos = lay_out(root)
    for split in ("train", "val", "test"):
        build(root, videos, split=split)
    layout = Layout(str(root))
    write_pairs(layout.test_pairs("demo"), [((a, b), (c, d)) for a, b, c, d in TONE_PAIRS])
    return layout


@pytest.fixture(scope="session")
def index_lists() -> Path:
    """Lines of the published MUSIC, MUSIC-21 and AVE lists, cut down (tests/data/README.md)."""
    return INDEX_LISTS


def need_tools(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pytest.fail(f"missing system tools {missing}: run ./setup.sh")


@pytest.fixture(scope="module")
def tiny_owl(tmp_path_factory):
    """A randomly initialised OWLv2 with tiny towers, saved and loaded as a real one would be."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    from transformers import (
        CLIPTokenizer,
        Owlv2Config,
        Owlv2ForObjectDetection,
        Owlv2ImageProcessor,
        Owlv2Processor,
    )

    # Id 0 is a filler: OWL reads a query whose first token id is 0 as padding.
    vocab = {"<|pad|>": 0, "<|startoftext|>": 1, "<|endoftext|>": 2}
    for ch in "abcdefghijklmnopqrstuvwxyz":
        vocab[ch] = len(vocab)
        vocab[ch + "</w>"] = len(vocab)
    tokenizer = CLIPTokenizer(
        vocab=vocab,
        merges=[],
        pad_token="<|pad|>",
        bos_token="<|startoftext|>",
        eos_token="<|endoftext|>",
        unk_token="<|endoftext|>",
    )
    text = dict(
        vocab_size=len(vocab),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        max_position_embeddings=32,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=0,
    )
    vision = dict(
        image_size=64,
        patch_size=16,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
    )
    import torch

    torch.manual_seed(0)
    model = Owlv2ForObjectDetection(
        Owlv2Config(text_config=text, vision_config=vision, projection_dim=32)
    )
    folder = tmp_path_factory.mktemp("owl")
    Owlv2Processor(
        image_processor=Owlv2ImageProcessor(size={"height": 64, "width": 64}), tokenizer=tokenizer
    ).save_pretrained(folder)
    model.save_pretrained(folder)
    return folder


@contextlib.contextmanager
def http_server(handler):
    """Serve ``handler`` on 127.0.0.1 in a thread; yields the base URL, stopped on exit."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.timeout = 5
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1})
    thread.daemon = True
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(scope="session")
def tiny_demo(tmp_path_factory) -> Path:
    """The tiny demo preprocessed once per test run (tests/tiny_demo.py), by whichever pytest
    process needs it first while the others wait; copy it with ``copy_tiny_demo`` before
    running anything on it."""
    from filelock import FileLock

    from tests.tiny_demo import build_tiny_demo

    base = tmp_path_factory.getbasetemp()
    # Under pytest-xdist each worker has a folder in the run's own: share the run's.
    shared = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "tiny-demo"
    with FileLock(f"{shared}.lock"):
        if not (shared / "built").is_file():
            build_tiny_demo(shared)
            (shared / "built").touch()
    return shared


# Long tests first, so that the processes do not wait on one at the end.
LONG = ("test_slurm.py", "test_workflow.py", "test_determinism.py", "test_gpu_profile.py")


def pytest_collection_modifyitems(items):
    items.sort(key=lambda item: item.path.name not in LONG)
