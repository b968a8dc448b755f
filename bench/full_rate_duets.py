"""Separation at the video's own rate and channels against the model's rate, on duets.

    .venv/bin/python bench/full_rate_duets.py [--pairs 12] [--out results/demo/full_rate.json] \
        [--summary results/demo/iquery/seed-1234/train_summary.json]

Each duet is two of the dataset's test videos (a test pair, two classes) side by side, their
sounds added, at the videos' own rate and channels (the demo's: 22.05 kHz stereo). It is
separated as ``iquery separate`` does (prepared with the checkpoint's recipe, the classes
named), once; its tracks are then made at the model's rate (mono, as today with
``--model-rate``) and at full rate with each high-band rule. Scores, against each video's own
sound:

- SDR at the model's rate (mono, the model's rate), as evaluation scores it;
- SDR at full rate, each channel scored and the channels averaged;
- the high band (above the model's Nyquist frequency): the SDR of each track's high band
  against its source's, and the share of the source's high-band energy the track holds
  (projection), per rule.

Means over the duets with their 95 % bootstrap intervals, and the paired difference of full rate
(share) against the model's rate. Figures are printed and written, not checked.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from iquery.model.evaluation import find_checkpoint  # noqa: E402
from iquery.model.full_rate import HIGH_BAND_RULES, MaskStore, apply_masks  # noqa: E402
from iquery.model.intervals import interval, paired_difference  # noqa: E402
from iquery.model.separator import load_separator  # noqa: E402
from iquery.pipeline.core.layout import Layout  # noqa: E402
from iquery.pipeline.datasets.splits import read_pairs  # noqa: E402
from iquery.pipeline.media.ffmpeg import WavReader, decode_audio, probe  # noqa: E402
from iquery.pipeline.separate.video import project_config, separate_prepared  # noqa: E402
from iquery.pipeline.stages.one_video import download_settings, prepare  # noqa: E402


def make_duet(a: Path, b: Path, out: Path) -> float:
    """``a`` and ``b`` (of one size) side by side, their sounds added (not averaged), as long as
    the shorter."""
    seconds = min(probe(a).duration, probe(b).duration)
    graph = "[0:v][1:v]hstack=inputs=2[v];[0:a][1:a]amix=inputs=2:normalize=0:duration=shortest[s]"
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(a), "-i", str(b)]
        + ["-filter_complex", graph, "-map", "[v]", "-map", "[s]", "-t", f"{seconds:.3f}"]
        + ["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p"]
        + ["-c:a", "pcm_s16le", str(out.with_suffix(".mkv"))],
        check=True,
    )
    return seconds


def sound_of(video: Path, rate: int, channels: int, length: int) -> np.ndarray:
    samples, _ = decode_audio(video, rate, channels=channels)
    samples = samples.reshape(len(samples), -1).T.astype(np.float64) / 32768
    out = np.zeros((samples.shape[0], length))
    out[:, : min(length, samples.shape[1])] = samples[:, :length]
    return out


def sdr(reference: np.ndarray, estimate: np.ndarray) -> float:
    import warnings

    from mir_eval.separation import bss_eval_sources

    with warnings.catch_warnings():  # its deprecation notice, once per call
        warnings.simplefilter("ignore", FutureWarning)
        value, *_ = bss_eval_sources(reference, estimate, compute_permutation=False)
    return value


def channel_sdr(references: np.ndarray, estimates: np.ndarray) -> np.ndarray:
    """(sources,) SDR of (sources, C, L) estimates, each channel scored, channels averaged."""
    per_channel = [sdr(references[:, c], estimates[:, c]) for c in range(references.shape[1])]
    return np.mean(per_channel, axis=0)


def high_band(x: np.ndarray, rate: int, cutoff: float) -> np.ndarray:
    spectrum = np.fft.rfft(x, axis=-1)
    spectrum[..., np.fft.rfftfreq(x.shape[-1], 1 / rate) < cutoff] = 0
    return np.fft.irfft(spectrum, n=x.shape[-1], axis=-1)


def high_band_scores(references, estimates, rate: int, cutoff: float) -> dict:
    """Per source: SDR of the high band, and the share of its energy the track holds."""
    ref, est = high_band(references, rate, cutoff), high_band(estimates, rate, cutoff)
    energy = (ref**2).sum(axis=(1, 2))
    error = ((ref - est) ** 2).sum(axis=(1, 2))
    held = (ref * est).sum(axis=(1, 2)) / np.maximum(energy, 1e-12)
    return {
        "sdr": 10 * np.log10(np.maximum(energy, 1e-12) / np.maximum(error, 1e-12)),
        "share": held,
        "energy_share_of_source": energy / np.maximum((references**2).sum(axis=(1, 2)), 1e-12),
    }


def identity_kept(result: dict, references: np.ndarray, rate: int) -> list[int]:
    """(windows where each track is closer to its own source than to the other's, windows):
    an instrument's identity held from window to window."""
    windows, tracks = result["windows"], result["tracks"]
    kept = 0
    for w in range(len(windows.starts)):
        centre = round(windows.centre_seconds(w, rate) * rate)
        span = slice(max(0, centre - windows.clip // 2), centre + windows.clip // 2)
        est, ref = tracks[:, span], references[:, span]
        if (ref**2).sum(axis=1).min() < 1e-8:
            continue  # a source silent here says nothing about identity
        closeness = np.array([[np.dot(e, r) / (np.linalg.norm(e) * np.linalg.norm(r) + 1e-12)
                               for r in ref] for e in est])  # fmt: skip
        kept += int(closeness[0, 0] > closeness[0, 1] and closeness[1, 1] > closeness[1, 0])
    return [kept, len(windows.starts)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    summary = ROOT / "results/demo/iquery/seed-1234/train_summary.json"
    parser.add_argument("--summary", type=Path, default=summary)
    parser.add_argument("--dataset", default="demo")
    parser.add_argument("--pairs", type=int, default=12)
    parser.add_argument("--out", type=Path, default=ROOT / "results/demo/full_rate_duets.json")
    args = parser.parse_args()
    layout = Layout(str(ROOT / "data"))
    system = load_separator(find_checkpoint(args.summary, "best"))
    spec = system.hparams.data_spec
    classes, recipe = spec["classes"], spec["recipe"]
    model_rate = recipe["stages"]["audio"]["audio_rate"]
    pairs = read_pairs(layout.test_pairs(args.dataset))[: args.pairs]
    download = download_settings(project_config(), args.dataset)  # local files: never used
    rows = []
    for (ca, va), (cb, vb) in pairs:
        videos = [
            Path(layout.video(args.dataset, ca, va)),
            Path(layout.video(args.dataset, cb, vb)),
        ]
        with tempfile.TemporaryDirectory() as tmp:
            duet = Path(tmp) / "duet.mkv"
            make_duet(*videos, duet)
            meta = probe(duet)
            rate, channels = meta.audio_rate, meta.audio_channels
            prepared = prepare(
                duet.resolve().as_uri(), "duet", Path(tmp) / "work", recipe, download=download
            )
            audio = prepared.sound()
            # The classes named, nothing kept: the command's own separation step, its tracks
            # and masks kept in memory (a duet is seconds long).
            named = SimpleNamespace(keep_prepared=False, batch_size=4)
            pieces, masks = [], MaskStore()
            with WavReader(prepared.audio) as sound:
                windows = separate_prepared(
                    named,
                    system,
                    classes,
                    recipe,
                    prepared,
                    [ca, cb],
                    prepared.rows(),
                    sound,
                    pieces.append,
                    masks,
                )
            result = {
                "tracks": np.concatenate(pieces, axis=-1),
                "windows": windows,
                "masks": masks.timeline(),
            }
            full = sound_of(duet, rate, channels, round(meta.audio_duration * rate))
            refs_full = np.stack([sound_of(v, rate, channels, full.shape[1]) for v in videos])
            refs_model = np.stack([sound_of(v, model_rate, 1, len(audio))[0] for v in videos])
            row = {
                "pair": f"{ca}/{va} + {cb}/{vb}",
                "rate": rate,
                "channels": channels,
                "model_rate": sdr(refs_model, result["tracks"].astype(np.float64)).tolist(),
                "mixture_model_rate": sdr(refs_model, np.stack([audio, audio])).tolist(),
            }
            for rule in HIGH_BAND_RULES:
                tracks, _ = apply_masks(
                    result["masks"], full, rate, high_band=rule, threshold=system.threshold
                )
                row[f"full_{rule}"] = channel_sdr(refs_full, tracks.astype(np.float64)).tolist()
                scores = high_band_scores(refs_full, tracks, rate, model_rate / 2)
                row[f"high_{rule}"] = {k: v.tolist() for k, v in scores.items()}
            row["mixture_full"] = channel_sdr(refs_full, np.stack([full, full])).tolist()
            row["windows_kept"] = identity_kept(result, refs_model, model_rate)
            rows.append(row)
            print(json.dumps(row), flush=True)
    report(rows, args.out)


def report(rows: list[dict], out: Path) -> None:
    def per_pair(key, inner=None):
        return np.array([np.mean(r[key][inner] if inner else r[key]) for r in rows])

    lines = [f"{len(rows)} duets, {rows[0]['rate']} Hz x {rows[0]['channels']} channels"]
    lines.append(f"{'tracks':<34}{'SDR dB (mean, 95 % interval)':>32}")
    table = {
        "mixture, model's rate": per_pair("mixture_model_rate"),
        "model's rate (mono)": per_pair("model_rate"),
        "mixture, full rate": per_pair("mixture_full"),
        **{f"full rate, high band: {r}": per_pair(f"full_{r}") for r in HIGH_BAND_RULES},
    }
    for name, values in table.items():
        i = interval(values)
        lines.append(f"{name:<34}{i.mean:>10.2f}  [{i.low:.2f}, {i.high:.2f}]")
    d = paired_difference(table["full rate, high band: share"], table["model's rate (mono)"])
    lines.append(
        f"full rate (share) - model's rate: {d.mean:+.2f} dB [{d.low:+.2f}, {d.high:+.2f}], "
        f"full rate higher on {d.wins_a} of {len(rows)}"
    )
    lines.append("high band (above the model's Nyquist): SDR dB, share of the source held")
    for rule in HIGH_BAND_RULES:
        s, h = per_pair(f"high_{rule}", "sdr"), per_pair(f"high_{rule}", "share")
        i, j = interval(s), interval(h)
        lines.append(
            f"  {rule:<8} SDR {i.mean:7.2f} [{i.low:.2f}, {i.high:.2f}]   "
            f"share {j.mean:5.2f} [{j.low:.2f}, {j.high:.2f}]"
        )
    kept = np.array([r["windows_kept"] for r in rows]).sum(axis=0)
    lines.append(
        f"windows where each track stays closest to its own source: {kept[0]} of {kept[1]}"
    )
    energy = per_pair("high_share", "energy_share_of_source")
    lines.append(f"the high band holds {energy.mean():.2%} of a source's energy, on average")
    print("\n".join(lines))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"rows": rows, "summary": lines}, indent=1))


if __name__ == "__main__":
    main()
