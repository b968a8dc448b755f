"""Peak memory and time of ``iquery separate`` against the video's length.

    .venv/bin/python bench/separate_memory.py [--minutes 1 10 60] [--model-rate]
        [--summary results/demo/iquery/seed-1234/train_summary.json] [--out FILE.json]

A duet of two of the demo's test videos side by side (22.05 kHz stereo), looped to each
length, is separated by the command a user runs (one process each, the classes named); the
process's peak resident memory (its own, from the kernel's accounting of the finished child)
and its wall time are printed side by side, with the real-time factor. Figures are printed, not
checked.
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.full_rate_duets import make_duet  # noqa: E402
from iquery.pipeline.core.layout import Layout  # noqa: E402
from iquery.pipeline.datasets.splits import read_pairs  # noqa: E402


def looped(duet: Path, minutes: float, out: Path) -> Path:
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-y", "-stream_loop", "-1", "-i", str(duet)]
        + ["-t", str(minutes * 60), "-c", "copy", str(out)],
        check=True,
    )
    return out


def separate_once(video: Path, summary: Path, classes: list[str], extra: list[str]) -> dict:
    """One separation in its own process: its peak RSS (MiB) and wall time (s)."""
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
    # ru_maxrss of the children: the largest any finished child reached (KiB on Linux); each
    # length runs after the shorter ones, so the maximum so far is this run's when it grows.
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"seconds": round(seconds, 1), "peak_mib": round(peak), "facts": facts}


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
        make_duet(Path(layout.video("demo", ca, va)), Path(layout.video("demo", cb, vb)), duet)
        for minutes in sorted(args.minutes):
            video = looped(duet, minutes, Path(tmp) / f"duet-{minutes:g}min.mkv")
            extra = ["--model-rate"] if args.model_rate else []
            result = separate_once(video, args.summary, [ca, cb], extra)
            rows.append(
                {
                    "minutes": minutes,
                    "seconds": result["seconds"],
                    "peak_mib": result["peak_mib"],
                    "real_time_factor": round(result["seconds"] / (minutes * 60), 3),
                    "output": result["facts"]["output"],
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    print(f"{'minutes':>8} {'wall s':>8} {'peak MiB':>9} {'x real time':>12}")
    for r in rows:
        rtf = r["real_time_factor"]
        print(f"{r['minutes']:8g} {r['seconds']:8.1f} {r['peak_mib']:9d} {rtf:12.3f}")
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
