"""Separating any video: windows joined without clicks, tracks and residual adding back up to the
mixture, every output written, and clear errors for what cannot be separated."""

import html
import io
import json
import re
import shutil
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from iquery.cli import separate as separate_cli
from iquery.model.iquery import ModelConfig
from iquery.model.separation import Windows, array_reader, separate_audio, window_audio
from iquery.model.settings import load_settings
from iquery.model.system import SeparationSystem
from iquery.pipeline.media.ffmpeg import probe
from iquery.pipeline.separate.crops import Crops
from iquery.pipeline.separate.video import present_classes
from iquery.pipeline.stages.recipe import recipe
from tests.conftest import make_video

pytestmark = pytest.mark.filterwarnings("ignore:.*module\\(s\\) in eval mode")

RANDOM_MOTION = yaml.safe_load((Path(__file__).resolve().parents[1] / "config.yaml").read_text())
RANDOM_MOTION["datasets"]["demo"]["overrides"]["motion"]["weights"] = None
CLASSES = ["cello", "flute", "xylophone"]
CLIP = 8191  # 32 STFT frames: a depth-5 U-Net divides it
RATE = 11025


def tiny_system(variant: str = "iquery", classes=CLASSES) -> SeparationSystem:
    torch.manual_seed(0)
    settings = load_settings({"seed": 1, "variant": variant, "clip_samples": CLIP})
    motion = 256 if variant == "iquery" else None  # the small I3D's tokens
    config = ModelConfig.tiny(unet_depth=5, num_queries=len(classes) + 1, motion_dim=motion)
    spec = {
        "clip_samples": CLIP,
        "num_frames": 3,
        "frame_stride": 1,
        "frame_size": 64,
        "frame_rate": 1.0,
        "audio_rate": RATE,
        "classes": list(classes),
        "use_motion": variant == "iquery",
        # prepared as the demo's videos are (64-px motion frames at 4 fps, 70-px crops, no
        # detector), by a small I3D with random weights: no learned one is made here
        "recipe": recipe(RANDOM_MOTION, "demo", list(classes)),
    }
    return SeparationSystem.from_settings(config, settings, spec).eval()


def save_checkpoint(system: SeparationSystem, path) -> None:
    """The two parts of a Lightning checkpoint that loading reads."""
    hparams = json.loads(json.dumps(dict(system.hparams)))
    torch.save({"hyper_parameters": hparams, "state_dict": system.state_dict()}, path)


def jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((80, 80, 3), 120, np.uint8)).save(buffer, format="JPEG")
    return buffer.getvalue()


@pytest.mark.parametrize("length", [100, CLIP, 3 * CLIP + 17])
def test_windows_join_back_to_the_signal(length):
    signal = np.random.default_rng(0).uniform(-1, 1, length).astype(np.float32)
    windows = Windows.cover(length, CLIP)
    pieces = window_audio(signal, windows)
    assert pieces.shape == (len(windows.starts), CLIP)
    np.testing.assert_allclose(windows.join(pieces), signal, atol=1e-6)


def test_unit_masks_give_back_the_mixture_across_every_join():
    """With every mask at one, each track must be the mixture itself: a click, a gap or a
    doubled stretch at any of the 11 joins would show."""
    system = tiny_system("nomotion")
    system.mask_logits = lambda batch, mixture: torch.full(
        (batch["frames"].shape[0], batch["frames"].shape[1], *mixture.mix_warped.shape[-2:]), 40.0
    )
    t = np.arange(5 * CLIP) / RATE
    audio = (0.4 * np.sin(2 * np.pi * 220 * t) * np.sin(2 * np.pi * 0.3 * t)).astype(np.float32)
    result = separate_audio(
        system,
        audio,
        rate=RATE,
        fps=1.0,
        n_frames=4,
        class_indices=[0, 2],
        crops=lambda k, frames: [jpeg()] * len(frames),
    )
    assert len(result["windows"].starts) == 12  # 5 clips, half a window apart, padded
    for track in result["tracks"]:
        assert np.abs(track - audio).max() < 1e-3
    np.testing.assert_allclose(result["tracks"].sum(0) + result["residual"], audio, atol=1e-6)


def band_masks(batch, mixture):
    """Stand-in mask logits: cello (class 0) takes the lower half of the warped frequency bins
    (below about 230 Hz), any other class the upper half."""
    classes = batch["class_index"]  # (B, K)
    bins, steps = mixture.mix_warped.shape[-2:]
    low = (torch.arange(bins) < bins // 2).float()[:, None].expand(bins, steps)
    cello = (classes == 0).float()[..., None, None]
    return 40.0 * (2 * (cello * low + (1 - cello) * (1 - low)) - 1)


def sdr(reference: np.ndarray, estimate: np.ndarray) -> float:
    return 10 * np.log10((reference**2).sum() / ((reference - estimate) ** 2).sum())


@pytest.mark.parametrize("order", [[0, 2], [2, 0]])
def test_each_track_holds_what_its_class_mask_selects(order):
    """A low hum and a high tone mixed; masks that pick a band per class: each track must be
    its band's tone (not the mixture, not the other's), in the order the classes were asked."""
    system = tiny_system("nomotion")
    system.mask_logits = band_masks
    t = np.arange(3 * CLIP) / RATE
    low = (0.3 * np.sin(2 * np.pi * 110 * t)).astype(np.float32)
    high = (0.3 * np.sin(2 * np.pi * 3000 * t)).astype(np.float32)
    result = separate_audio(
        system,
        low + high,
        rate=RATE,
        fps=1.0,
        n_frames=3,
        class_indices=order,
        crops=lambda k, frames: [jpeg()] * len(frames),
    )
    inner = slice(CLIP // 2, -CLIP // 2)  # away from the signal's two ends
    wanted = {0: low, 2: high}
    # The mixture itself would score 0 dB here, the other class's tone -3 dB.
    for track, cls in zip(result["tracks"], order, strict=True):
        assert sdr(wanted[cls][inner], track[inner]) > 15, (cls, order)


def test_detected_spans_merge_the_windows_an_instrument_was_seen_in():
    from iquery.pipeline.report.heard import detected_spans

    rows = np.array([[f, 1, 0.9, 0, 0, 5, 5] for f in (2, 3, 9)], dtype=np.float32)  # 1 fps
    windows = [(0, 4), (2, 6), (4, 8), (6, 10)]
    assert detected_spans(rows, 1, 1.0, windows) == [[0, 6], [6, 10]]
    assert detected_spans(rows, 0, 1.0, windows) == []


def test_present_classes_are_those_seen_often_enough():
    rows = [[f, 0, 0.9, 0, 0, 10, 10] for f in range(1, 6)]  # cello in 5 of 10 frames
    rows += [[1, 2, 0.8, 0, 0, 10, 10], [2, 2, 0.8, 0, 0, 10, 10]]  # xylophone in 2
    rows += [[f, -1, 0.99, 0, 0, 10, 10] for f in range(1, 11)]  # boxes without a class
    rows = np.array(rows, dtype=np.float32)
    assert present_classes(rows, 10, CLASSES, 0.3) == ["cello"]
    assert present_classes(rows, 10, CLASSES, 0.2) == ["cello", "xylophone"]
    assert present_classes(rows[-10:], 10, CLASSES, 0.1) == []


def read_wav(path) -> np.ndarray:
    """(L, channels), float."""
    with wave.open(str(path)) as w:
        samples = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float64) / 32768
        return samples.reshape(-1, w.getnchannels())


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "tiny.ckpt"
    save_checkpoint(tiny_system("iquery"), path)
    return path


@pytest.fixture(scope="module")
def duet(tmp_path_factory):
    return make_video(
        tmp_path_factory.mktemp("video") / "duet.mp4",
        seconds=6,
        audio="sine=frequency=440:sample_rate=48000",
    )


def test_separate_a_video(checkpoint, duet, tmp_path):
    """Tracks at the video's own rate and channels (48 kHz stereo here) adding up to its
    sound; with --model-rate, mono tracks at the model's rate."""
    out = tmp_path / "out"
    base = [
        "--checkpoint",
        str(checkpoint),
        "--video",
        str(duet),
        "--classes",
        "cello",
        "xylophone",
    ]
    facts = separate_cli.main([*base, "--out", str(out)])
    assert facts["classes"] == ["cello", "xylophone"] and facts["windows"] >= 3
    assert facts["output"] == {"rate": 48000, "channels": 2, "high_band": "share"}
    heard = facts["heard"]
    assert heard["mixture"]["energy_share"] == 1.0 and heard["mixture"]["loudness_lufs"] < 0
    assert heard["cello"]["detected"] is None  # the background detector names no class
    assert 0 < facts["real_time_factor"] == round(facts["seconds_taken"] / 6, 3)
    names = ["mixture", "cello", "xylophone", "residual"]
    for name in names:
        assert probe(out / f"{name}.mp4").has_audio and probe(out / f"{name}.mp4").has_video
    sounds = {name: read_wav(out / f"{name}.wav") for name in names}
    assert sounds["mixture"].shape == (round(6 * 48000), 2)
    # Tracks plus residual give back the mixture (to the WAVs' 16-bit rounding).
    rebuilt = sounds["cello"] + sounds["xylophone"] + sounds["residual"]
    assert np.abs(rebuilt - sounds["mixture"]).max() < 4 / 32768
    page = (out / "index.html").read_text()
    assert "cello.mp4" in page and "data:image/png;base64," in page
    recorded = json.loads((out / "separation.json").read_text())
    assert recorded["provenance"]["code_version"] and recorded["variant"] == "iquery"
    assert not list(out.glob(".work-*"))  # the working folder is gone
    model_rate = tmp_path / "model-rate"
    facts = separate_cli.main([*base, "--out", str(model_rate), "--model-rate"])
    assert facts["output"] == {"rate": RATE, "channels": 1, "high_band": None}
    sounds = {name: read_wav(model_rate / f"{name}.wav") for name in names}
    assert sounds["mixture"].shape == (round(6 * RATE), 1)
    rebuilt = sounds["cello"] + sounds["xylophone"] + sounds["residual"]
    assert np.abs(rebuilt - sounds["mixture"]).max() < 4 / 32768


def test_separate_refuses_what_it_cannot_do(checkpoint, duet, media, tmp_path):
    base = ["--checkpoint", str(checkpoint), "--video", str(duet), "--out", str(tmp_path / "o")]
    with pytest.raises(SystemExit, match="trumpet not among the model's classes: cello, flute"):
        separate_cli.main([*base, "--classes", "trumpet"])
    with pytest.raises(SystemExit, match="does not tell instruments apart: name them"):
        separate_cli.main(base)
    with pytest.raises(SystemExit, match="trained on classes .* the dataset lists"):
        separate_cli.main([*base, "--classes", "cello", "--expect-classes", "cello", "tuba"])
    missing = ["--checkpoint", str(tmp_path / "none.ckpt")] + base[2:]
    with pytest.raises(SystemExit, match="no such checkpoint"):
        separate_cli.main([*missing, "--classes", "cello"])
    silent = [*base[:2], "--video", str(media["no_audio"]), "--out", str(tmp_path / "s")]
    with pytest.raises(SystemExit, match="audio: no audio track"):
        separate_cli.main([*silent, "--classes", "cello"])
    old = tiny_system()
    old.hparams.data_spec.pop("recipe")
    save_checkpoint(old, tmp_path / "old.ckpt")
    with pytest.raises(SystemExit, match="does not record how its training videos were prepared"):
        separate_cli.main(["--checkpoint", str(tmp_path / "old.ckpt"), *base[2:]])
    with pytest.raises(SystemExit, match="neither a YouTube id"):
        separate_cli.main([*base[:2], "--video", "ftp://x/y.mp4", "--out", str(tmp_path / "u")])


def test_the_page_plays_in_step_with_solo_and_mute(checkpoint, duet, tmp_path):
    """In a real headless browser: the page plays every track from one transport; soloing a
    track mutes the others; the tracks' clocks agree."""
    from tests.test_report import BROWSER_FLAGS

    out = tmp_path / "out"
    separate_cli.main(
        ["--checkpoint", str(checkpoint), "--video", str(duet), "--out", str(out)]
        + ["--classes", "cello", "xylophone"]
    )
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.fail("chromium not found: run ./setup.sh --test, which installs Debian's chromium")
    shown = subprocess.run(
        [browser, *BROWSER_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]
        + ["--autoplay-policy=no-user-gesture-required", "--virtual-time-budget=5000"]
        + ["--dump-dom", (out / "index.html").resolve().as_uri() + "#selftest"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    found = re.search(r'data-check="([^"]*)"', shown.stdout)
    assert found, f"the page's self-test never ran:\n{shown.stderr[-2000:]}"
    state = json.loads(html.unescape(found[1]))
    assert state["playing"]
    heard = {t["name"]: not t["muted"] for t in state["tracks"]}
    assert heard == {"mixture": False, "cello": True, "xylophone": False, "residual": False}
    times = [t["time"] for t in state["tracks"]] + [state["picture"]]
    assert max(times) > 0 and max(times) - min(times) < 0.25, times


@pytest.mark.parametrize("rate,channels", [(22050, 2), (48000, 2), (44100, 1)])
def test_loudness_fed_in_pieces_is_pyloudnorms_of_the_whole(rate, channels):
    import pyloudnorm

    from iquery.pipeline.report.heard import LoudnessMeter

    rng = np.random.default_rng(0)
    n = 7 * rate + 123
    sound = rng.standard_normal((n, channels)) * np.linspace(0.01, 0.3, n)[:, None]
    whole = pyloudnorm.Meter(rate).integrated_loudness(sound[:, 0] if channels == 1 else sound)
    meter = LoudnessMeter(rate, channels)
    for start in range(0, n, 5000):
        meter.add(sound[start : start + 5000])
    assert abs(meter.loudness() - whole) < 0.02
    silent = LoudnessMeter(rate, channels)
    silent.add(np.zeros((rate, channels)))
    assert silent.loudness() is None


def test_the_masks_picture_pools_a_long_sound_without_holding_its_spectrogram():
    from iquery.model.audio import stft
    from iquery.pipeline.separate.picture import PICTURE_COLUMNS, overview

    rng = np.random.default_rng(0)
    short = rng.standard_normal(RATE * 20).astype(np.float32)
    whole = stft(torch.from_numpy(short), 1022, 256).abs().numpy()
    np.testing.assert_allclose(
        overview(array_reader(short), len(short)), whole, rtol=1e-5, atol=1e-5
    )
    long = rng.standard_normal(RATE * 300).astype(np.float32)
    whole = stft(torch.from_numpy(long), 1022, 256).abs().numpy()
    group = -(-whole.shape[1] // PICTURE_COLUMNS)
    pooled = np.stack(
        [whole[:, i : i + group].mean(axis=1) for i in range(0, whole.shape[1], group)], axis=1
    )
    pictured = overview(array_reader(long), len(long))
    assert pictured.shape[1] <= PICTURE_COLUMNS
    np.testing.assert_allclose(pictured, pooled, rtol=1e-4, atol=1e-5)


def test_freed_blocks_go_back_to_the_system_under_glibc():
    """separate fixes glibc's mapping threshold so that a long video's blocks, freed one after
    another, do not pile up in the heap (iquery.pipeline.core.memory)."""
    import platform

    from iquery.pipeline.core.memory import return_freed_blocks

    assert return_freed_blocks() is (platform.libc_ver()[0] == "glibc")


def test_crops_are_cut_when_asked_and_only_the_last_few_kept(tmp_path):
    """A long video's every crop is never held: the cache keeps the last ``keep``, and a crop
    cut again is the same bytes."""
    rng = np.random.default_rng(2)
    jpgs = []
    for k in range(12):
        jpgs.append(tmp_path / f"{k + 1:06d}.jpg")
        Image.fromarray(rng.integers(0, 255, (60, 80, 3), dtype=np.uint8)).save(jpgs[-1])
    rows = np.array([[k + 1, 0, 0.9, 10, 10, 50, 40] for k in range(12)], dtype=np.float32)
    crops = Crops(jpgs, rows, side=32, own_class=True, keep=4)
    first = crops(0, [0, 1, 2])
    for k in range(3, 12):
        crops(0, [k])
    assert len(crops.cache) == 4 and (0, 0) not in crops.cache
    assert crops(0, [0, 1, 2]) == first


def test_progress_in_a_log_is_a_line_a_tenth(capsys):
    """Where stderr is not a terminal (a log file), a bar's redraws would be one line of tens of
    kilobytes for a long video: a short line at each tenth instead."""
    from iquery.pipeline.separate.video import progress_bar

    update = progress_bar()
    for _ in range(2500):
        update(4, 10000)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 10 and lines[-1] == "separate: 10000/10000 windows"
    assert max(map(len, lines)) < 80


def test_evaluation_and_separation_start_without_lightning():
    """Lightning (and torchmetrics with it) costs every job seconds to import; scoring and
    separating a trained model need neither (``iquery.model.separator``)."""
    import subprocess
    import sys

    code = (
        "import sys, iquery.cli.evaluate, iquery.model.evaluation, iquery.cli.separate, "
        "iquery.pipeline.separate.video, iquery.model.separator; "
        "print(sorted(k for k in sys.modules if k.startswith(('lightning.pytorch', "
        "'torchmetrics'))))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]", done.stdout
