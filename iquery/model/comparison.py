"""A dataset's runs side by side: every method's figures over its training seeds, each with its
95 % interval, and the paired differences between methods scored on the same test pairs.

Reads each run's ``per_pair.tsv`` and ``metrics.json`` (one per training seed, from
``evaluate``). Pairs are matched by their two videos, and only the pairs every run and seed
scored are compared, so that every row and every difference averages the same pairs. The
mixture and the ideal ratio mask depend on the test clips alone; their rows must agree between
runs (they do when the runs were scored on the same clips), and a run whose do not is refused.

Intervals: ``iquery/model/intervals.py``: a bootstrap over the test videos (within each class;
a pair weighted by both its videos), crossed with the seeds when there are several. The interval
over the pairs alone is kept beside each figure as ``pairs_only``: it speaks only for other pairs
of these same videos.
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
    OVER_VIDEOS,
    TestSet,
    TestVideos,
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

# A class with fewer test videos than this gets no per-class ranking: an interval over two
# videos rests on one difference between them.
MIN_CLASS_VIDEOS = 3
BOOTSTRAP_METHOD = (
    "test videos drawn again within each class (n - 1 of a class's n, each counting n / (n - 1)), "
    "each pair weighted by the product of its two videos' weights"
)

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


def _rows(seeds: list[SeedResult], pairs: list[PairKey]) -> list[list[dict]]:
    return [[s.rows[key] for key in pairs] for s in seeds]


def _figures(test: TestSet, rows: list[list[dict]], column: str) -> dict:
    """A row's figure (``model_sdr``, say): its mean with the interval over the test videos (and
    seeds), the interval over the pairs only (labelled), the median pair and the seeds' spread."""
    per_pair = test.values(rows, column)
    return {
        **test.figure(per_pair, seed=BOOTSTRAP_SEED),
        "median": float(np.median(per_pair.mean(axis=0))),
        **spread_over_seeds(per_pair),
    }


def _sources(pairs: list[PairKey]) -> dict[str, list[tuple[int, str]]]:
    """Per source class: the (pair index, side) of each of its sources in the pairs."""
    columns: dict[str, list[tuple[int, str]]] = {}
    for i, key in enumerate(pairs):
        columns.setdefault(key[0], []).append((i, "a"))
        columns.setdefault(key[2], []).append((i, "b"))
    return dict(sorted(columns.items()))


def _source_grid(seeds, pairs: list[PairKey], method: str, sources) -> np.ndarray:
    return np.array(
        [
            [_number(s.rows[pairs[i]].get(f"{method}_sdr_{side}")) for i, side in sources]
            for s in seeds
        ]
    )


def _class_columns(test: TestSet, sources, kept) -> TestVideos:
    """The source columns (``TestVideos.of_sources``' order) of one class's kept sources."""
    return test.sources.take(
        [2 * i + (side == "b") for (i, side), k in zip(sources, kept, strict=True) if k]
    )


def _per_class(
    seeds: list[SeedResult], pairs: list[PairKey], method: str, test: TestSet
) -> dict[str, dict]:
    """Per source class: the mean SDR of ``method`` over every source of that class in the
    pairs, with its interval over the test videos (and seeds), the one over its sources only
    (labelled), and how many videos it rests on."""
    out = {}
    for cls, sources in _sources(pairs).items():
        grid = _source_grid(seeds, pairs, method, sources)
        kept = np.isfinite(grid).all(axis=0)
        if not kept.any():
            continue
        spread = interval(
            grid[:, kept], videos=_class_columns(test, sources, kept), seed=BOOTSTRAP_SEED
        )
        pairs_only = interval(grid[:, kept], seed=BOOTSTRAP_SEED)
        out[cls] = spread.as_dict() | {
            "pairs_only": {"low": pairs_only.low, "high": pairs_only.high},
            "sources": int(kept.sum()),
            "videos": test.pairs.videos_of(cls),
        }
    return out


def _per_class_differences(
    runs: list[RunResults], pairs: list[PairKey], test: TestSet
) -> dict[str, dict]:
    """Per source class: every two models' paired difference on that class's sources, over the
    test videos (and seeds), and a sentence on whether the class's videos can rank them."""
    out = {}
    for cls, sources in _sources(pairs).items():
        grids = {r.name: _source_grid(r.seeds, pairs, "model", sources) for r in runs}
        kept = np.all([np.isfinite(g).all(axis=0) for g in grids.values()], axis=0)
        count = test.pairs.videos_of(cls)
        entry: dict = {"videos": count, "differences": []}
        if kept.any() and len(runs) > 1 and count >= MIN_CLASS_VIDEOS:
            behind = _class_columns(test, sources, kept)
            for a, b in combinations(runs, 2):
                diff = paired_difference(
                    grids[a.name][:, kept], grids[b.name][:, kept], videos=behind,
                    seed=BOOTSTRAP_SEED,
                )  # fmt: skip
                entry["differences"].append(
                    {"a": a.name, "b": b.name, "label_a": a.label, "label_b": b.label}
                    | diff.as_dict()
                )
        entry["sentence"] = _class_sentence(cls, entry, len(runs))
        out[cls] = entry
    return out


def _class_sentence(cls: str, entry: dict, models: int) -> str:
    """Whether a class's test videos rank the models: which differences they resolve."""
    count = entry["videos"]
    if models < 2:
        return f"{cls}: {count} test videos; one model, nothing to rank."
    if count < MIN_CLASS_VIDEOS:
        return (
            f"{cls}: {count} test video{'s' if count != 1 else ''}, too few to rank the "
            f"methods on this class (at least {MIN_CLASS_VIDEOS} are needed for an interval "
            "over its videos)."
        )
    resolved = [d for d in entry["differences"] if d["resolved"]]
    if not resolved:
        return (
            f"{cls}: its {count} test videos cannot rank the methods on this class: every "
            "difference between them has an interval over the videos that holds zero."
        )
    said = []
    for d in resolved:
        above, below = (d["label_a"], d["label_b"])
        if d["mean"] < 0:
            above, below = below, above
        said.append(f"{above} above {below} by {abs(d['mean']):.2f} dB")
    rest = len(entry["differences"]) - len(resolved)
    tail = f"; {rest} other difference{'s' if rest != 1 else ''} unresolved" if rest else ""
    return f"{cls} ({count} test videos): " + ", ".join(said) + tail + "."


def compare(runs: list[RunResults]) -> dict:
    """Every method's figures with intervals, and every paired difference (see the module
    docstring). The model rows come first, in the runs' order, then the two references."""
    pairs = common_pairs(runs)
    check_same_clips(runs, pairs)
    test = TestSet.of(pairs)
    n_seeds = len(runs[0].seeds)
    seeds = [s.seed for s in runs[0].seeds]
    first = runs[0].seeds[:1]  # the reference rows: the same clips for every run and seed
    reference_rows = _rows(first, pairs)

    methods, rows = [], {}
    for run in runs:
        rows[run.name] = _rows(run.seeds, pairs)
        methods.append(
            {
                "name": run.name,
                "label": run.label,
                "variant": run.variant,
                "kind": "model",
                "folders": [s.folder.path for s in run.seeds],
                "selection": sorted({str(s.metrics.get("selection", "?")) for s in run.seeds}),
                **{m: _figures(test, rows[run.name], f"model_{m}") for m in METRICS},
                "per_class": _per_class(run.seeds, pairs, "model", test),
            }
        )
    for name, label in REFERENCES.items():
        if f"{name}_sdr" not in reference_rows[0][0]:
            continue
        methods.append(
            {
                "name": name,
                "label": label,
                "kind": "reference",
                **{m: _figures(test, reference_rows, f"{name}_{m}") for m in METRICS},
                "per_class": _per_class(first, pairs, name, test),
            }
        )

    sdr = {run.name: test.values(rows[run.name], "model_sdr") for run in runs}
    mixture = test.values(reference_rows, "mixture_sdr")
    differences = []
    for a, b in combinations(runs, 2):
        differences.append(
            _difference_entry(test, a.name, a.label, b.name, b.label, sdr[a.name], sdr[b.name])
        )
    for run in runs:
        reference = np.broadcast_to(mixture, sdr[run.name].shape)
        differences.append(
            _difference_entry(
                test,
                run.name,
                run.label,
                "mixture",
                REFERENCES["mixture"],
                sdr[run.name],
                reference,
            )
        )
    between_models = differences[: len(runs) * (len(runs) - 1) // 2]
    widths = [(d["high"] - d["low"]) / 2 for d in between_models if d["low"] is not None]
    return {
        "seeds": seeds,
        "pairs": {
            "listed": max(len(s.rows) for r in runs for s in r.seeds),
            "compared": len(pairs),
        },
        "test_videos": {
            "count": test.videos,
            "per_class": {c: test.pairs.videos_of(c) for c in sorted(set(test.pairs.classes))},
            "single_video_classes": test.pairs.single_video_classes(),
        },
        "bootstrap": {
            "over": OVER_VIDEOS + (" and training seeds" if n_seeds > 1 else ""),
            "method": BOOTSTRAP_METHOD,
            "pairs_only": "pairs drawn again from these same videos: narrower than another "
            "set of test videos would be; shown only as such",
            "draws": DRAWS,
            "level": LEVEL,
            "seed": BOOTSTRAP_SEED,
        },
        "methods": methods,
        "differences": differences,
        "per_class_differences": _per_class_differences(runs, pairs, test),
        # About the smallest difference between two models the test videos resolve.
        "resolvable_db": float(np.median(widths)) if widths else None,
    }


def _difference_entry(
    test: TestSet, a: str, label_a: str, b: str, label_b: str, values_a, values_b
) -> dict:
    """``a`` − ``b`` in SDR (seeds x pairs each): over the test videos (and seeds), with the
    interval over the pairs only beside it, labelled."""
    diff, pairs_only = test.difference(values_a, values_b, seed=BOOTSTRAP_SEED)
    return {
        "a": a,
        "b": b,
        "label_a": label_a,
        "label_b": label_b,
        "metric": "sdr",
        **diff.as_dict(),
        "pairs_only": {
            "low": pairs_only.low,
            "high": pairs_only.high,
            "resolved": pairs_only.resolved,
        },
        "sentence": describe_difference(label_a, label_b, diff),
    }
