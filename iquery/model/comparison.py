"""A dataset's runs side by side: every method's figures over its training seeds, each with its
95 % interval, and the paired differences between methods scored on the same test pairs.

Reads each run's ``per_pair.tsv`` and ``metrics.json`` (one per training seed, from
``evaluate``). Pairs are matched by their two videos, and only the pairs every run and seed
scored are compared, so that every row and every difference averages the same pairs. The
mixture and the ideal ratio mask depend on the test clips alone; their rows must agree between
runs (they do when the runs were scored on the same clips), and a run whose do not is refused.

Intervals: ``iquery/model/intervals.py`` (a bootstrap over the pairs, and over the seeds when there
are several).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

import numpy as np

from iquery.model.intervals import (
    DRAWS,
    LEVEL,
    describe_difference,
    interval,
    paired_difference,
    spread_over_seeds,
)
from iquery.pipeline.core.files import read_json, read_tsv
from iquery.pipeline.core.layout import RunFolder

METRICS = ("sdr", "sir", "sar")
REFERENCES = {"mixture": "unprocessed mixture", "irm": "ideal ratio mask"}
BOOTSTRAP_SEED = 0  # as iquery/model/metrics.py: the same scores give the same intervals
# Reference rows of two runs count as the same clips when they agree to this (dB): the TSV
# keeps 4 decimals.
SAME_CLIPS_DB = 1e-3

PairKey = tuple[str, str, str, str]


@dataclass
class SeedResult:
    """One trained seed of a run: its metrics and per-pair scores by pair."""

    folder: RunFolder
    seed: int | None
    metrics: dict
    rows: dict[PairKey, dict]


@dataclass
class RunResults:
    name: str
    label: str
    variant: str
    seeds: list[SeedResult]


def _pair_key(row: dict) -> PairKey:
    return (row["class_a"], row["vid_a"], row["class_b"], row["vid_b"])


def _number(text: str | None) -> float:
    return float(text) if text not in (None, "") else math.nan


def read_seed(folder: str | Path) -> SeedResult:
    """A trained and evaluated run folder."""
    run = RunFolder(str(folder))
    metrics = read_json(run.metrics, "evaluate the run first")
    if not Path(run.per_pair).is_file():
        raise ValueError(f"{run.per_pair}: missing; evaluate the run first")
    rows = {}
    for row in read_tsv(run.per_pair):
        if row.get("skipped") == "True":
            continue
        rows[_pair_key(row)] = row
    summary = read_json(run.summary, "train the run first") if Path(run.summary).is_file() else {}
    seed = (summary.get("config") or {}).get("seed")
    return SeedResult(run, seed, metrics, rows)


def read_runs(runs: dict[str, list[str | Path]]) -> list[RunResults]:
    """Run name -> its seeds' folders, in the order given (the first run leads the tables)."""
    out = []
    for name, folders in runs.items():
        if not folders:
            raise ValueError(f"run {name}: no folder given")
        seeds = [read_seed(f) for f in folders]
        first = seeds[0].metrics
        out.append(
            RunResults(
                name=name,
                label=str(first.get("label") or first.get("variant") or name),
                variant=str(first.get("variant") or "?"),
                seeds=seeds,
            )
        )
    counts = {len(r.seeds) for r in out}
    if len(counts) > 1:
        raise ValueError(
            "runs have different numbers of seeds: "
            + ", ".join(f"{r.name} {len(r.seeds)}" for r in out)
            + "; compare runs trained with the same seeds"
        )
    return out


def common_pairs(runs: list[RunResults]) -> list[PairKey]:
    """The pairs every run and seed scored, in the first run's order."""
    first = list(runs[0].seeds[0].rows)
    shared = set(first)
    for run in runs:
        for seed in run.seeds:
            shared &= set(seed.rows)
    if not shared:
        raise ValueError("no test pair was scored by every run: were they scored on one list?")
    return [key for key in first if key in shared]


def _grid(seeds: list[SeedResult], pairs: list[PairKey], column: str) -> np.ndarray:
    return np.array(
        [[_number(s.rows[key].get(column)) for key in pairs] for s in seeds], dtype=np.float64
    )


def check_same_clips(runs: list[RunResults], pairs: list[PairKey]) -> None:
    """The mixture's per-pair SDR depends on the test clips alone: it must agree everywhere."""
    reference = _grid(runs[0].seeds[:1], pairs, "mixture_sdr")[0]
    for run in runs:
        for seed in run.seeds:
            values = _grid([seed], pairs, "mixture_sdr")[0]
            if not np.allclose(values, reference, atol=SAME_CLIPS_DB, equal_nan=True):
                raise ValueError(
                    f"{seed.folder.per_pair}: the mixture's scores differ from "
                    f"{runs[0].seeds[0].folder.per_pair}: the runs were scored on other test "
                    "clips (other shards or clip settings); evaluate them on the same ones"
                )


def _figures(grid: np.ndarray) -> dict:
    spread = interval(grid, seed=BOOTSTRAP_SEED)
    return {
        "mean": spread.mean,
        "low": spread.low,
        "high": spread.high,
        "median": float(np.median(grid.mean(axis=0))),
        **spread_over_seeds(grid),
    }


def _per_class(seeds: list[SeedResult], pairs: list[PairKey], method: str) -> dict[str, dict]:
    """Per source class: the mean SDR of ``method`` over every source of that class in the
    pairs, with its interval (the sources of a class resampled, and the seeds)."""
    columns: dict[str, list[tuple[int, str]]] = {}
    for i, key in enumerate(pairs):
        columns.setdefault(key[0], []).append((i, "a"))
        columns.setdefault(key[2], []).append((i, "b"))
    out = {}
    for cls in sorted(columns):
        grid = np.array(
            [
                [_number(s.rows[pairs[i]].get(f"{method}_sdr_{side}")) for i, side in columns[cls]]
                for s in seeds
            ]
        )
        grid = grid[:, np.isfinite(grid).all(axis=0)]
        if grid.size:
            spread = interval(grid, seed=BOOTSTRAP_SEED)
            out[cls] = {"mean": spread.mean, "low": spread.low, "high": spread.high}
            out[cls]["sources"] = int(grid.shape[1])
    return out


def compare(runs: list[RunResults]) -> dict:
    """Every method's figures with intervals, and every paired difference (see the module
    docstring). The model rows come first, in the runs' order, then the two references."""
    pairs = common_pairs(runs)
    check_same_clips(runs, pairs)
    n_seeds = len(runs[0].seeds)
    seeds = [s.seed for s in runs[0].seeds]
    first = runs[0].seeds[:1]  # the reference rows: the same clips for every run and seed
    mixture = {m: _grid(first, pairs, f"mixture_{m}") for m in METRICS}

    methods, grids = [], {}
    for run in runs:
        grids[run.name] = {m: _grid(run.seeds, pairs, f"model_{m}") for m in METRICS}
        methods.append(
            {
                "name": run.name,
                "label": run.label,
                "variant": run.variant,
                "kind": "model",
                "folders": [s.folder.path for s in run.seeds],
                "selection": sorted({str(s.metrics.get("selection", "?")) for s in run.seeds}),
                **{m: _figures(grids[run.name][m]) for m in METRICS},
                "per_class": _per_class(run.seeds, pairs, "model"),
            }
        )
    for name, label in REFERENCES.items():
        if f"{name}_sdr" not in next(iter(first[0].rows.values())):
            continue
        ref = {m: _grid(first, pairs, f"{name}_{m}") for m in METRICS}
        methods.append(
            {
                "name": name,
                "label": label,
                "kind": "reference",
                **{m: _figures(ref[m]) for m in METRICS},
                "per_class": _per_class(first, pairs, name),
            }
        )

    differences = []
    for a, b in combinations(runs, 2):
        diff = paired_difference(grids[a.name]["sdr"], grids[b.name]["sdr"], seed=BOOTSTRAP_SEED)
        differences.append(_difference_entry(a.name, a.label, b.name, b.label, diff))
    for run in runs:
        diff = paired_difference(
            grids[run.name]["sdr"],
            np.broadcast_to(mixture["sdr"], grids[run.name]["sdr"].shape),
            seed=BOOTSTRAP_SEED,
        )
        differences.append(
            _difference_entry(run.name, run.label, "mixture", REFERENCES["mixture"], diff)
        )
    widths = [(d["high"] - d["low"]) / 2 for d in differences[: len(runs) * (len(runs) - 1) // 2]]
    return {
        "seeds": seeds,
        "pairs": {
            "listed": max(len(s.rows) for r in runs for s in r.seeds),
            "compared": len(pairs),
        },
        "bootstrap": {
            "over": "pairs and seeds" if n_seeds > 1 else "pairs",
            "draws": DRAWS,
            "level": LEVEL,
            "seed": BOOTSTRAP_SEED,
        },
        "methods": methods,
        "differences": differences,
        # About the smallest difference between two models these pairs resolve.
        "resolvable_db": float(np.median(widths)) if widths else None,
    }


def _difference_entry(a: str, label_a: str, b: str, label_b: str, diff) -> dict:
    return {
        "a": a,
        "b": b,
        "label_a": label_a,
        "label_b": label_b,
        "metric": "sdr",
        **diff.as_dict(),
        "sentence": describe_difference(label_a, label_b, diff),
    }
