"""One demo video end to end: melody → FluidSynth audio → drawn frames → H.264/AAC MP4."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from iquery.pipeline.core.files import atomic_path
from iquery.pipeline.datasets.demo.drawing import background, compose, random_look
from iquery.pipeline.datasets.demo.melody import loudness_at, melody, onset_strength, render
from iquery.pipeline.datasets.demo.naming import INSTRUMENT_PROGRAMS
from iquery.pipeline.media.ffmpeg import write_wav

# H.264 video and AAC audio in a +faststart MP4, bit-exact so the same seed gives the same file.
_ENCODE = (
    ["-map", "0:v", "-map", "1:a", "-c:v", "libx264", "-preset", "ultrafast", "-crf", "20"]
    + ["-pix_fmt", "yuv420p", "-threads", "1", "-c:a", "aac", "-b:a", "128k", "-ac", "2"]
    + ["-movflags", "+faststart", "-fflags", "+bitexact", "-flags:v", "+bitexact"]
    + ["-flags:a", "+bitexact", "-map_metadata", "-1", "-shortest", "-f", "mp4"]
)


def frames_and_boxes(cls, notes, audio, *, seconds, width, height, fps, sample_rate, rng):
    """All frames (n, H, W, 3) uint8 and the true boxes (n, 4); frame k shows time k / fps."""
    times = np.arange(int(round(seconds * fps))) / fps
    env = loudness_at(audio, sample_rate, times, window=2.0 / fps)
    onset = onset_strength(notes, times)
    look = random_look(cls, width, height, rng)
    base = background(width, height, rng)
    # The moving part's phase advances only while the instrument sounds.
    phase = np.cumsum(env) * (2 * np.pi * 0.6 / fps) + rng.uniform(0, 2 * np.pi)
    # The sway is slow, and quicker while the player plays than in rests.
    sway = np.cumsum(0.3 + env) * (2 * np.pi * rng.uniform(0.15, 0.25) / fps)
    sway += rng.uniform(0, 2 * np.pi)
    frames = np.empty((len(times), height, width, 3), dtype=np.uint8)
    boxes = np.empty((len(times), 4), dtype=np.float32)
    for k, t in enumerate(times):
        motion = {
            "env": float(env[k]),
            "onset": float(onset[k]),
            "phase": float(phase[k]),
            "sway": float(sway[k]),
            "t": float(t),
        }
        frames[k], boxes[k] = compose(base, look, motion)
    return frames, boxes


def encode_mp4(path: Path, frames: np.ndarray, audio: np.ndarray, *, fps: float, rate: int):
    """Write frames (n, H, W, 3) uint8 and stereo audio as an MP4, atomically."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise RuntimeError("ffmpeg not found on PATH: install it (./setup.sh does)")
    height, width = frames.shape[1:3]
    with tempfile.TemporaryDirectory(prefix="demo-") as tmp, atomic_path(path) as part:
        wav = Path(tmp) / "audio.wav"
        write_wav(wav, (np.clip(audio, -1, 1) * 32767).astype("<i2"), rate)  # (L, 2): stereo
        command = [ffmpeg, "-nostdin", "-v", "error", "-y"]
        command += ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}"]
        command += ["-r", str(fps), "-i", "pipe:", "-i", str(wav), *_ENCODE, "-ar", str(rate)]
        command.append(str(part))
        subprocess.run(command, input=frames.tobytes(), check=True, capture_output=True)


def make_video(
    cls: str,
    vid: str,
    *,
    video: str | Path,
    boxes: str | Path,
    seconds: float,
    width: int,
    height: int,
    fps: float,
    sample_rate: int,
    soundfont: str | Path,
    seed: int | list[int],
) -> dict:
    """Write one demo video to ``video`` and its true box per video frame to ``boxes``."""
    rng = np.random.default_rng(seed)
    notes = melody(cls, seconds, rng)
    level_db = float(rng.uniform(-22.0, -18.0))
    audio = render(
        cls, notes, seconds, sample_rate=sample_rate, soundfont=soundfont, level_db=level_db
    )
    frames, true_boxes = frames_and_boxes(
        cls,
        notes,
        audio,
        seconds=seconds,
        width=width,
        height=height,
        fps=fps,
        sample_rate=sample_rate,
        rng=rng,
    )
    encode_mp4(Path(video), frames, audio, fps=fps, rate=sample_rate)
    with atomic_path(boxes) as part, open(part, "wb") as f:
        np.save(f, true_boxes)
    return {
        "class": cls,
        "vid": vid,
        "seconds": seconds,
        "fps": fps,
        "width": width,
        "height": height,
        "sample_rate": sample_rate,
        "program": INSTRUMENT_PROGRAMS[cls],
        "notes": len(notes),
        "seed": list(np.atleast_1d(seed).tolist()),
    }
