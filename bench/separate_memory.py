"""Peak memory and time of ``iquery separate`` against the video's length.

    .venv/bin/python bench/separate_memory.py [--minutes 1 10 60] [--model-rate]
        [--summary results/demo/iquery/seed-1234/train_summary.json] [--out FILE.json]

A duet of two of the demo's test videos side by side (22.05 kHz stereo), looped to each
length, is separated by the command a user runs (one process each, the classes named); the
process's peak resident memory (its own, from the kernel's accounting of the finished child)
and its wall time are printed side by side, with the real-time factor.

The tracks are also scored against the two videos' own sounds, looped as the duet was, window
by window (6 s, not overlapping): whether each instrument's track stays closer to its own
source than to the other's in every window of a long video (its identity held), and each
track's SDR per window (plain: the source's energy over the error's, at the video's rate, the
channels summed), its mean over the first minute and over the whole video. Figures are
printed, not checked.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.full_rate_duets import make_duet, sound_of  # noqa: E402
from iquery.pipeline.core.layout import Layout  # noqa: E402
from iquery.pipeline.datasets.splits import read_pairs  # noqa: E402
from iquery.pipeline.media.ffmpeg import WavReader, probe, wav_writer  # noqa: E402


def looped(duet: Path, minutes: float, out: Path) -> Path:
    """The duet repeated for ``minutes``: its pictures looped, its sound repeated sample for
    sample (written here, so that the sources repeat exactly as the scores assume)."""
    meta = probe(duet)
    rate, channels = meta.audio_rate, meta.audio_channels
    period = decoded(duet, rate, channels)
    total = round(minutes * 60 * rate)
    sound = out.with_suffix(".wav")
    with wav_writer(sound, rate, channels) as w:
        for start in range(0, total, len(period)):
            w.writeframes(period[: total - start].tobytes())
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-y", "-stream_loop", "-1", "-i", str(duet)]
        + ["-i", str(sound), "-map", "0:v", "-map", "1:a", "-t", str(minutes * 60)]
        + ["-c:v", "copy", "-c:a", "pcm_s16le", str(out)],
        check=True,
    )
    sound.unlink()
    return out


def decoded(video: Path, rate: int, channels: int) -> np.ndarray:
    """The video's sound as it decodes at ``rate``, (n, channels) int16: as long as it really
    is (``decode_audio`` pads or cuts it to the length its container states)."""
    raw = subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-i", str(video), "-vn"]
        + ["-f", "s16le", "-ac", str(channels), "-ar", str(rate), "pipe:"],
        check=True,
        capture_output=True,
    ).stdout
    return np.frombuffer(raw, "<i2").reshape(-1, channels)


def score_windows(out: Path, names: list[str], sources: np.ndarray, seconds: float = 6.0):
    """Per window of ``seconds``: whether each track is closest to its own source (None where a
    source is silent), and each track's plain SDR (dB); ``sources`` (2, L) mono at the tracks'
    rate, looped as the duet was. Also the mixture against the sources' sum over the whole video
    (dB): how exactly the loop repeats them."""
    readers = [WavReader(out / f"{name}.wav") for name in ["mixture", *names]]
    rate, length = readers[0].rate, readers[0].length
    span, period = round(seconds * rate), sources.shape[1]
    kept, sdrs, mix_energy, mix_error = [], [], 0.0, 0.0
    for start in range(0, length - span + 1, span):
        at = np.arange(start, start + span) % period
        refs = sources[:, at]
        mixture, *tracks = [r.read(start, start + span).sum(axis=0) for r in readers]
        mix_energy += float((refs.sum(axis=0) ** 2).sum())
        mix_error += float(((refs.sum(axis=0) - mixture) ** 2).sum())
        sdrs.append([plain_sdr(ref, track) for ref, track in zip(refs, tracks, strict=True)])
        if (refs**2).sum(axis=1).min() < 1e-8:
            kept.append(None)
            continue
        close = np.array([[cosine(t, r) for r in refs] for t in tracks])
        kept.append(bool(close[0, 0] > close[0, 1] and close[1, 1] > close[1, 0]))
    for reader in readers:
        reader.close()
    alignment = 10 * np.log10(mix_energy / max(mix_error, 1e-12))
    return kept, np.array(sdrs), round(float(alignment), 1), span / rate


def plain_sdr(reference: np.ndarray, estimate: np.ndarray) -> float:
    error = ((reference - estimate) ** 2).sum()
    return float(10 * np.log10((reference**2).sum() / max(error, 1e-12)))


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))


def separate_once(video: Path, summary: Path, classes: list[str], extra: list[str], sources):
    """One separation in its own process: its peak RSS (MiB) and wall time (s), and its tracks
    scored window by window (``score_windows``)."""
    iquery = Path(sys.executable).parent / "iquery"
    with tempfile.TemporaryDirectory() as out:
        command = [str(iquery), "separate", "--summary", str(summary), "--video", str(video)]
        command += ["--out", out, "--classes", *classes, *extra]
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        if done.returncode != 0:
            raise SystemExit(done.stderr[-3000:])
        facts = json.loads((Path(out) / "separation.json").read_text())
        at = sources(facts["output"]["rate"])
        kept, sdrs, alignment, window_s = score_windows(Path(out), classes, at)
    # ru_maxrss of the children: the largest any finished child reached (KiB on Linux); each
    # length runs after the shorter ones, so the maximum so far is this run's when it grows.
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    held = [k for k in kept if k is not None]
    first_minute = max(1, round(60 / window_s))
    scores = {
        "identity_kept": [sum(held), len(held)],
        "sdr_first_minute": np.round(sdrs[:first_minute].mean(axis=0), 2).tolist(),
        "sdr_whole": np.round(sdrs.mean(axis=0), 2).tolist(),
        "sdr_last_minute": np.round(sdrs[-first_minute:].mean(axis=0), 2).tolist(),
        "loop_alignment_db": alignment,
    }
    return {"seconds": round(seconds, 1), "peak_mib": round(peak), "facts": facts} | scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[1, 10])
    parser.add_argument("--model-rate", action="store_true")
    summary = ROOT / "results/demo/iquery/seed-1234/train_summary.json"
    parser.add_argument("--summary", type=Path, default=summary)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    layout = Layout(str(ROOT / "data"))
    (ca, va), (cb, vb) = read_pairs(layout.test_pairs("demo"))[0]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        duet = Path(tmp) / "duet.mkv"
        videos = [Path(layout.video("demo", ca, va)), Path(layout.video("demo", cb, vb))]
        make_duet(*videos, duet)

        def sources(rate: int) -> np.ndarray:
            """Each video's sound (mono, summed over channels), as long as the duet's sound
            really is (the loop's period; its container states a longer one)."""
            length = len(decoded(duet, rate, 1))
            return np.stack([sound_of(v, rate, 2, length).sum(axis=0) for v in videos])

        for minutes in sorted(args.minutes):
            video = looped(duet, minutes, Path(tmp) / f"duet-{minutes:g}min.mkv")
            extra = ["--model-rate"] if args.model_rate else []
            result = separate_once(video, args.summary, [ca, cb], extra, sources)
            rows.append(
                {
                    "minutes": minutes,
                    "seconds": result["seconds"],
                    "peak_mib": result["peak_mib"],
                    "real_time_factor": round(result["seconds"] / (minutes * 60), 3),
                    "output": result["facts"]["output"],
                    **{
                        k: v for k, v in result.items() if k not in ("seconds", "peak_mib", "facts")
                    },
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    print(f"{'minutes':>8} {'wall s':>8} {'peak MiB':>9} {'x real time':>12}", end="")
    print(f"{'identity kept':>15} {'SDR 1st min':>14} {'SDR whole':>14} {'SDR last min':>14}")
    for r in rows:
        rtf, (kept, windows) = r["real_time_factor"], r["identity_kept"]
        print(f"{r['minutes']:8g} {r['seconds']:8.1f} {r['peak_mib']:9d} {rtf:12.3f}", end="")
        sdrs = [" / ".join(f"{v:.2f}" for v in r[k]) for k in ("sdr_first_minute", "sdr_whole")]
        last = " / ".join(f"{v:.2f}" for v in r["sdr_last_minute"])
        print(f"{f'{kept} of {windows}':>15} {sdrs[0]:>14} {sdrs[1]:>14} {last:>14}")
    print(
        "(SDR: track 1 / track 2, plain, dB; the loop repeats the sources to "
        f"{min(r['loop_alignment_db'] for r in rows)} dB)"
    )
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
