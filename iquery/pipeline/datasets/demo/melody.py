"""Random melodies in each instrument's range and manner, rendered by FluidSynth.

A melody is phrases of notes separated by rests, so that loudness (and with it the picture's
motion) rises and falls. Rendering uses a real sampled General MIDI soundfont.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from iquery.pipeline.datasets.demo.naming import INSTRUMENT_PROGRAMS


@dataclass(frozen=True)
class Style:
    low: int  # MIDI pitch range
    high: int
    beats: tuple[float, ...]  # note lengths to choose from, in beats
    tempo: tuple[int, int]  # beats per minute
    legato: float  # sounding share of each note's slot
    chord_chance: float = 0.0  # chance a note comes with a chord under it
    phrase: tuple[int, int] = (4, 10)  # notes per phrase


STYLES = {
    "accordion": Style(53, 81, (0.5, 1, 1, 2), (80, 120), 0.95, chord_chance=0.6),
    "acoustic_guitar": Style(40, 76, (0.5, 0.5, 1), (80, 130), 0.9, chord_chance=0.4),
    "cello": Style(36, 69, (1, 2, 2, 3), (60, 96), 0.98),
    "clarinet": Style(50, 84, (0.5, 1, 1, 2), (72, 120), 0.95),
    "flute": Style(60, 93, (0.25, 0.5, 0.5, 1), (80, 132), 0.9),
    "saxophone": Style(49, 80, (0.5, 1, 1.5), (70, 120), 0.95),
    "trumpet": Style(55, 82, (0.5, 0.5, 1, 1), (84, 132), 0.8),
    "tuba": Style(28, 53, (1, 2, 2), (56, 90), 0.9, phrase=(3, 7)),
    "violin": Style(55, 91, (0.5, 1, 1, 2), (70, 120), 0.98),
    "xylophone": Style(65, 96, (0.25, 0.25, 0.5), (96, 150), 0.3, phrase=(6, 16)),
}
MAJOR, MINOR = (0, 2, 4, 5, 7, 9, 11), (0, 2, 3, 5, 7, 8, 10)


@dataclass(frozen=True)
class Note:
    pitch: int
    start: float
    end: float
    velocity: int


def melody(cls: str, seconds: float, rng: np.random.Generator) -> list[Note]:
    """Phrases of scale notes, a random walk through the instrument's range, with rests."""
    style = STYLES[cls]
    tonic = int(rng.integers(0, 12))
    scale = MAJOR if rng.random() < 0.5 else MINOR
    pitches = [p for p in range(style.low, style.high + 1) if (p - tonic) % 12 in scale]
    beat = 60.0 / rng.uniform(*style.tempo)
    notes: list[Note] = []
    t = float(rng.uniform(0.0, 0.6))
    index = int(rng.integers(len(pitches) // 4, 3 * len(pitches) // 4))
    while t < seconds - 0.3:
        loudness = rng.uniform(0.55, 1.0)  # one dynamic per phrase
        for _ in range(int(rng.integers(*style.phrase))):
            length = beat * float(rng.choice(style.beats))
            if t + 0.2 > seconds:
                break
            index = int(np.clip(index + rng.choice([-2, -1, -1, 0, 1, 1, 2]), 0, len(pitches) - 1))
            velocity = int(np.clip(loudness * rng.uniform(85, 127), 30, 127))
            end = min(t + length * style.legato, seconds)
            notes.append(Note(pitches[index], t, end, velocity))
            if rng.random() < style.chord_chance:
                for step in (-2, -4):  # a third and a fifth below, in the scale
                    if index + step >= 0:
                        notes.append(Note(pitches[index + step], t, end, int(velocity * 0.7)))
            t += length
        t += float(rng.uniform(0.5, 2.0))  # a rest: the instrument falls still
    return notes


def write_midi(notes: list[Note], program: int, path: Path) -> None:
    import pretty_midi  # imported here: only the demo needs it

    midi = pretty_midi.PrettyMIDI(initial_tempo=120)
    instrument = pretty_midi.Instrument(program=program)
    for n in notes:
        instrument.notes.append(pretty_midi.Note(n.velocity, n.pitch, n.start, n.end))
    midi.instruments.append(instrument)
    midi.write(str(path))


def render(
    cls: str,
    notes: list[Note],
    seconds: float,
    *,
    sample_rate: int,
    soundfont: str | Path,
    level_db: float,
) -> np.ndarray:
    """Stereo float32 (n, 2) audio, exactly ``seconds`` long, at an RMS level of ``level_db``
    dBFS (its peak kept under 0.95). Loudness, not peak, is what sets how two instruments balance
    in a mixture: with peak normalisation a sustained cello sat 15 dB above a plucked guitar."""
    executable = shutil.which("fluidsynth")
    if executable is None:
        raise RuntimeError("fluidsynth not found on PATH: install it (./setup.sh does)")
    if not Path(soundfont).is_file():
        raise RuntimeError(f"soundfont {soundfont} not found: set config key demo.soundfont")
    with tempfile.TemporaryDirectory(prefix="demo-midi-") as tmp:
        mid, wav = Path(tmp) / "m.mid", Path(tmp) / "m.wav"
        write_midi(notes, INSTRUMENT_PROGRAMS[cls], mid)
        subprocess.run(
            [
                executable,
                "-ni",
                "-q",
                "-F",
                str(wav),
                "-r",
                str(sample_rate),
                str(soundfont),
                str(mid),
            ],
            check=True,
            capture_output=True,
        )
        with wave.open(str(wav)) as w:
            channels, width = w.getnchannels(), w.getsampwidth()
            raw = w.readframes(w.getnframes())
    dtype = {2: "<i2", 4: "<i4"}[width]
    audio = np.frombuffer(raw, dtype=dtype).reshape(-1, channels).astype(np.float32)
    audio /= float(2 ** (8 * width - 1))
    n = round(seconds * sample_rate)  # crop the release tail past the last note
    out = np.zeros((n, 2), dtype=np.float32)
    out[: min(n, len(audio))] = audio[:n, :2] if channels >= 2 else audio[:n, [0, 0]]
    rms = float(np.sqrt(np.mean(out**2)))
    if rms == 0:
        return out
    gain = min(10 ** (level_db / 20) / rms, 0.95 / float(np.abs(out).max()))
    return out * gain


def loudness_at(
    audio: np.ndarray, sample_rate: int, times: np.ndarray, window: float
) -> np.ndarray:
    """RMS loudness around each time, scaled to [0, 1] by the clip's own maximum."""
    mono = audio.mean(axis=1)
    half = max(1, int(window * sample_rate / 2))
    out = np.empty(len(times), dtype=np.float32)
    for i, t in enumerate(times):
        c = int(t * sample_rate)
        piece = mono[max(0, c - half) : c + half]
        out[i] = np.sqrt(np.mean(piece**2)) if piece.size else 0.0
    top = out.max()
    return out / top if top > 0 else out


def onset_strength(notes: list[Note], times: np.ndarray, decay: float = 0.15) -> np.ndarray:
    """For each time, the velocity-weighted decaying trace of the notes begun before it."""
    out = np.zeros(len(times), dtype=np.float32)
    for n in notes:
        dt = times - n.start
        live = dt >= 0
        out[live] += (n.velocity / 127.0) * np.exp(-dt[live] / decay)
    return np.clip(out, 0, 1.5) / 1.5
