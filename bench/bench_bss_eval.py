"""Scoring one test pair's three rows (model, mixture, ideal mask): ours against mir_eval's.

    python bench/bench_bss_eval.py [--seconds 3 6] [--rate 11025] [--pairs 5]

Evaluation scores every test pair three times over the same two references.
``iquery.model.bss_eval.bss_eval_shared`` builds and factorises the references' matrices once per
pair; the obvious alternative, ``mir_eval.separation.bss_eval_sources`` called once per row, builds
and factorises them for every estimated source of every row. Both run here on the same pairs: two
random references of the given length, a noisy estimate, the mixture and a leaky one. The table
gives seconds per pair (median over ``--pairs``) and the largest difference of SDR and SIR between
the two. Figures are printed, never checked; BLAS uses one thread, as each scoring process does when
evaluation runs them side by side.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402


def rows_of(rng: np.random.Generator, samples: int) -> tuple[np.ndarray, dict]:
    refs = rng.standard_normal((2, samples))
    mixture = np.repeat(refs.mean(0, keepdims=True), 2, axis=0)
    rows = {
        "model": refs + 0.3 * rng.standard_normal((2, samples)),
        "mixture": mixture,
        "irm": 0.9 * refs + 0.1 * refs[::-1] + 0.01 * rng.standard_normal((2, samples)),
    }
    return refs, rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, nargs="+", default=[3.0, 6.0])
    parser.add_argument("--rate", type=int, default=11025)
    parser.add_argument("--pairs", type=int, default=5)
    args = parser.parse_args(argv)

    import mir_eval.separation

    from iquery.model.bss_eval import bss_eval_shared

    print("| clip | mir_eval, a call per row | shared | speed-up | max |ΔSDR|, |ΔSIR| |")
    print("|---|---|---|---|---|")
    rng = np.random.default_rng(0)
    for seconds in args.seconds:
        samples = int(seconds * args.rate)
        theirs_s, ours_s, worst = [], [], 0.0
        for _ in range(args.pairs):
            refs, rows = rows_of(rng, samples)
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)
                theirs = {
                    k: mir_eval.separation.bss_eval_sources(refs, v, compute_permutation=False)
                    for k, v in rows.items()
                }
            theirs_s.append(time.perf_counter() - start)
            start = time.perf_counter()
            ours = bss_eval_shared(refs, rows)
            ours_s.append(time.perf_counter() - start)
            for k in rows:
                for a, b in zip(ours[k][:2], theirs[k][:2], strict=True):
                    worst = max(worst, float(np.max(np.abs(a - b))))
        t, o = statistics.median(theirs_s), statistics.median(ours_s)
        print(f"| {seconds:g} s | {t:.3f} s | {o:.3f} s | {t / o:.1f}× | {worst:.1e} dB |")


if __name__ == "__main__":
    main()
