"""Do the intervals keep their promise? Score the default run's trained models on fresh test
sets, and count how often one test set's 95 % interval holds the mean over all of them.

    python bench/coverage.py [--draws 20] [--first-seed 2001] [--jobs 2] \
        [--runs iquery nomotion sop] [--out results/demo/coverage]

Needs the default demo done (``snakemake --cores 2``): its models, trained with seed
``train.seeds[0]`` on the draw of config key ``seed``, are scored as they are, never retrained.
Each fresh test set is the demo made again from another ``seed`` (``--first-seed``, then the
next ones), with as many test videos a class and as many test pairs as the default test set,
every video a test video (``splits.test_fraction: 1``), the motion network of the default draw
(its learned weights; ``motion.init_seed`` for a random one), and the same stages through
``snakemake``; then every run is scored with ``iquery.cli.evaluate`` and the runs compared with
``iquery.cli.compare``, exactly as the pipeline does. A draw already compared in OUT is not made
again, and a run already scored on a draw is not scored again (delete a draw's comparison.json
to compare it anew).

For each figure (each model's SDR, the mixture's, the ideal mask's, each paired difference, and
each class's SDR per method), the truth is the mean of that figure over all the draws; the table
gives how often a draw's interval holds it, over test videos (what the report uses) and over
pairs only (the earlier interval), and how wide each is beside the central 95 % range of the
draws' own means. Writes OUT/coverage.json, OUT/coverage.md and OUT/coverage.png.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def default_design(config: dict) -> dict:
    """The default demo's test set: its test videos a class, its pairs, the models' folders."""
    from iquery.model.settings import train_runs, train_seeds
    from iquery.pipeline.core.files import read_tsv
    from iquery.pipeline.core.layout import Layout

    layout = Layout(**config["paths"])
    test = read_tsv(layout.split("demo", "test"))
    per_class: dict[str, int] = {}
    for row in test:
        per_class[row["class"]] = per_class.get(row["class"], 0) + 1
    if len(set(per_class.values())) != 1:
        raise SystemExit(f"coverage: the default test set is not balanced: {per_class}")
    seed = train_seeds(config)[0]
    runs = {name: layout.run("demo", name, seed) for name in train_runs(config, "demo")}
    for run in runs.values():
        if not Path(run.summary).is_file():
            raise SystemExit(f"coverage: {run.summary} missing: run the default demo first")
    return {
        "videos_per_class": next(iter(per_class.values())),
        "pairs": len(read_tsv(layout.test_pairs("demo"))),
        "runs": runs,
        "data_seed": config["seed"],
        # the motion network the models were trained with: the default draw's learned one
        "motion_weights": Path(layout.motion_encoder("demo")).resolve(),
    }


def overlay(draw_seed: int, folder: Path, design: dict) -> Path:
    """The config overlay of one fresh test set."""
    import yaml

    text = {
        "seed": draw_seed,
        "paths": {"data": str(folder / "data"), "results": str(folder / "results")},
        "demo": {"videos_per_class": design["videos_per_class"]},
        "motion": {"init_seed": design["data_seed"]},
        "datasets": {
            "demo": {
                "overrides": {
                    "splits": {"test_fraction": 1, "test_pairs": design["pairs"]},
                }
                | (
                    {"motion": {"weights": str(design["motion_weights"])}}
                    if design["motion_weights"].is_file()
                    else {}
                )
            }
        },
    }
    path = folder / "overlay.yaml"
    path.write_text(yaml.safe_dump(text, sort_keys=False))
    return path


def make_draw(draw_seed: int, out: Path, design: dict, jobs: int) -> Path:
    """Make one fresh test set and score every run on it; returns its comparison.json."""
    from iquery.pipeline.core.layout import Layout

    folder = out / f"draw-{draw_seed}"
    comparison = folder / "comparison.json"
    if comparison.is_file():
        return comparison
    folder.mkdir(parents=True, exist_ok=True)
    layout = Layout(data=str(folder / "data"), results=str(folder / "results"))
    shards, pairs = layout.shard_index("demo", "test"), layout.test_pairs("demo")
    snakemake = [Path(sys.executable).with_name("snakemake"), "--cores", str(jobs), "--quiet"]
    configs = ["--configfile", "config.yaml", str(overlay(draw_seed, folder, design))]
    if not (Path(shards).is_file() and Path(pairs).is_file()):  # made already: only scored
        with open(folder / "make.log", "w") as log:
            subprocess.run(
                [*snakemake, *configs, "--", shards, pairs],
                check=True,
                cwd=ROOT,
                stdout=log,
                stderr=log,
            )
    compared = []
    for name, run in design["runs"].items():
        scores = folder / "scores" / name
        compared += ["--run", name, str(scores)]
        if (scores / "per_pair.tsv").is_file():
            continue  # scored already: only the comparison is made again
        scores.mkdir(parents=True, exist_ok=True)
        with open(scores / "evaluate.log", "w") as log:
            subprocess.run(
                [
                    sys.executable, "-m", "iquery.cli.evaluate", "--summary", run.summary,
                    "--shards", shards, "--pairs", pairs, "--metrics", scores / "metrics.json",
                    "--per-pair", scores / "per_pair.tsv", "--jobs", str(jobs),
                ],
                check=True, cwd=ROOT, stdout=log, stderr=log,
                env=os.environ | {"OPENBLAS_NUM_THREADS": "1"},
            )  # fmt: skip
    subprocess.run(
        [sys.executable, "-m", "iquery.cli.compare", *compared, "--out", comparison],
        check=True, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    return comparison


# The intervals compared: what the report uses, the earlier one, and two other ways of drawing
# the videos again (docs/method.md 5.1 says why the first).
KINDS = {
    "videos": "over test videos, within classes (the report's)",
    "pairs": "over pairs only (the earlier interval)",
    "uncorrected": "over test videos, within classes, product weights uncorrected",
    "across classes": "over test videos drawn across classes",
    "per source": "over test videos, within classes, per source",
}


def figures_of(comparison: dict, folder: Path) -> dict[str, dict]:
    """Every figure of one draw: name -> its mean and each kind of interval. The report's two
    (over videos, over pairs only) are read from the draw's comparison.json; the others are
    computed here from its per-pair tables."""
    out = {}
    for m in comparison["methods"]:
        sdr = m["sdr"]
        out[f"{m['label']}: SDR"] = {
            "kind": "method",
            "mean": sdr["mean"],
            "videos": (sdr["low"], sdr["high"]),
            "pairs": (sdr["pairs_only"]["low"], sdr["pairs_only"]["high"]),
        }
        for cls, entry in m.get("per_class", {}).items():
            out[f"{m['label']}: SDR of {cls}"] = {
                "kind": "class",
                "mean": entry["mean"],
                "videos": (entry["low"], entry["high"]),
                "pairs": (entry["pairs_only"]["low"], entry["pairs_only"]["high"]),
            }
    for d in comparison["differences"]:
        out[f"{d['label_a']} − {d['label_b']}"] = {
            "kind": "difference",
            "mean": d["mean"],
            "videos": (d["low"], d["high"]),
            "pairs": (d["pairs_only"]["low"], d["pairs_only"]["high"]),
        }
    for name, bounds in other_designs(comparison, folder).items():
        out[name].update(bounds)
    return out


def other_designs(comparison: dict, folder: Path) -> dict[str, dict]:
    """The same figures' intervals over test videos drawn across classes (one group, one
    class), drawn within classes but per source (each source in its own class), and the
    report's without its correction for what product weights count too often."""
    from iquery.model.intervals import TestSet, TestVideos, interval, source_columns
    from iquery.pipeline.core.files import read_tsv

    models = [m for m in comparison["methods"] if m["kind"] == "model"]
    tables = {m["label"]: read_tsv(folder / "scores" / m["name"] / "per_pair.tsv") for m in models}
    key_of = ("class_a", "vid_a", "class_b", "vid_b")
    first = next(iter(tables.values()))
    keys = [tuple(r[k] for k in key_of) for r in first]
    if any([tuple(r[k] for k in key_of) for r in t] != keys for t in tables.values()):
        raise SystemExit(f"coverage: {folder}: the runs scored other pairs")
    # As the comparison does: the pairs every run scored (a silent estimate skips one run's).
    kept = [all(t[i]["skipped"] != "True" for t in tables.values()) for i in range(len(keys))]
    rows = {label: [r for r, k in zip(t, kept, strict=True) if k] for label, t in tables.items()}
    first = next(iter(rows.values()))
    keys = [key for key, k in zip(keys, kept, strict=True) if k]
    test = TestSet.of(keys)
    across = TestVideos.of_pairs([("all", f"{a}/{b}", "all", f"{c}/{d}") for a, b, c, d in keys])

    def columns(table, column):
        pair = TestSet.values([table], column)
        sides = [TestSet.values([table], f"{column}_{s}") for s in "ab"]
        return pair, source_columns(*sides)

    values = {label: columns(table, "model_sdr") for label, table in rows.items()}
    values["unprocessed mixture"] = columns(first, "mixture_sdr")
    values["ideal ratio mask"] = columns(first, "irm_sdr")

    def bounds(per_pair, per_source) -> dict:
        wide = interval(per_pair, videos=across)
        own = interval(per_source, videos=test.sources)
        plain = interval(per_pair, videos=test.pairs, corrected=False)
        return {
            "across classes": (wide.low, wide.high),
            "per source": (own.low, own.high),
            "uncorrected": (plain.low, plain.high),
        }

    out = {f"{label}: SDR": bounds(*v) for label, v in values.items()}
    for d in comparison["differences"]:
        a, b = values[d["label_a"]], values[d["label_b"]]
        out[f"{d['label_a']} − {d['label_b']}"] = bounds(a[0] - b[0], a[1] - b[1])
    return out


def coverage(draws: list[dict[str, dict]]) -> list[dict]:
    """Per figure: the truth (mean over draws), the draws' spread, and each interval's hit rate
    and width."""
    rows = []
    for name in draws[0]:
        means = np.array([d[name]["mean"] for d in draws])
        truth = float(means.mean())
        low, high = np.percentile(means, [2.5, 97.5])
        spread = float(high - low)
        sd = float(means.std(ddof=1))
        row = {
            "figure": name,
            "kind": draws[0][name]["kind"],
            "truth": truth,
            "draws_sd": sd,
            "draws_range": spread,
        }
        for over in KINDS:
            if over not in draws[0][name]:
                continue
            bounds = np.array([d[name][over] for d in draws], dtype=float)
            held = (bounds[:, 0] <= truth) & (truth <= bounds[:, 1])
            width = float(np.nanmean(bounds[:, 1] - bounds[:, 0]))
            row[over] = {
                "coverage": float(held.mean()),
                "width": width,
                "width_over_range": width / spread if spread > 0 else None,
                "width_over_4sd": width / (2 * 1.96 * sd) if sd > 0 else None,
            }
        rows.append(row)
    return rows


def table(rows: list[dict], draws: int) -> str:
    """The coverage table: the report's interval beside the earlier one, for every figure but
    the per-class ones (summarised in two lines); then the four kinds on the main figures."""
    lines = [
        f"| figure | mean over {draws} draws | central 95 % of the draws' means | "
        "over pairs: holds it | width | over videos: holds it | width | ÷ the draws' range |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if r["kind"] == "class":
            continue
        v, p = r["videos"], r["pairs"]
        lines.append(
            f"| {r['figure']} | {r['truth']:+.2f} | {r['draws_range']:.2f} | "
            f"{p['coverage']:.0%} | {p['width']:.2f} | {v['coverage']:.0%} | {v['width']:.2f} | "
            f"{v['width_over_range']:.2f} |"
        )
    classes = [r for r in rows if r["kind"] == "class"]
    if classes:
        said = []
        for over in ("pairs", "videos"):
            hits = np.array([r[over]["coverage"] for r in classes])
            ratio = np.array([r[over]["width_over_range"] or np.nan for r in classes], dtype=float)
            said.append(
                f"over {over}: holds it in {np.median(hits):.0%} of draws (median; lowest "
                f"{hits.min():.0%}), width ÷ range {np.nanmedian(ratio):.2f}"
            )
        lines.append(f"\nPer class ({len(classes)} figures): " + "; ".join(said) + ".")
    main = [r for r in rows if r["kind"] != "class"]
    lines += [
        "",
        "| figure | " + " | ".join(KINDS[k] for k in KINDS) + " |",
        "|---|" + "---|" * len(KINDS),
    ]
    for r in main:
        cells = [
            f"{r[k]['coverage']:.0%}, ×{r[k]['width_over_range']:.2f}" if k in r else "–"
            for k in KINDS
        ]
        lines.append(f"| {r['figure']} | " + " | ".join(cells) + " |")
    lines.append(
        "\n(each cell: how often a draw's interval holds the mean over all draws, and its mean "
        "width ÷ the central 95 % range of the draws' own means)"
    )
    return "\n".join(lines)


def plot(rows: list[dict], draws: list[dict[str, dict]], path: Path) -> None:
    """Each draw's two intervals beside the truth, for every figure but the per-class ones."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [r for r in rows if r["kind"] != "class"]
    cols = 4
    lines = -(-len(shown) // cols)
    fig, axes = plt.subplots(lines, cols, figsize=(4 * cols, 2.8 * lines), squeeze=False)
    for ax, r in zip(axes.flat, shown, strict=False):
        y = np.arange(len(draws))
        for offset, over, colour in ((-0.15, "pairs", "C1"), (0.15, "videos", "C0")):
            bounds = np.array([d[r["figure"]][over] for d in draws])
            missed = (bounds[:, 0] > r["truth"]) | (bounds[:, 1] < r["truth"])
            ax.hlines(y + offset, bounds[:, 0], bounds[:, 1], colors=colour, linewidth=1.5,
                      label=f"over {over} ({1 - missed.mean():.0%})")  # fmt: skip
            ax.plot(bounds[missed].mean(axis=1), (y + offset)[missed], "x", color="red")
        ax.plot([d[r["figure"]]["mean"] for d in draws], y, ".", color="black", markersize=3)
        ax.axvline(r["truth"], color="black", linewidth=0.8)
        ax.set_title(r["figure"], fontsize=9)
        ax.set_yticks([])
        ax.legend(fontsize=7, loc="lower right")
    for ax in list(axes.flat)[len(shown) :]:
        ax.axis("off")
    fig.suptitle("each fresh test set's 95 % interval (a line each); black: the mean over all")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main() -> None:
    import yaml

    from iquery.pipeline.core.files import write_json, write_text
    from iquery.pipeline.core.provenance import provenance

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--draws", type=int, default=20)
    parser.add_argument("--first-seed", type=int, default=2001)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "demo" / "coverage")
    args = parser.parse_args()
    if args.draws < 2:
        parser.error("--draws: at least 2 (the truth is the mean over the draws)")
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    design = default_design(config)
    args.out.mkdir(parents=True, exist_ok=True)
    found = []
    for k in range(args.draws):
        seed = args.first_seed + k
        started = time.perf_counter()
        path = make_draw(seed, args.out.resolve(), design, args.jobs)
        found.append(figures_of(json.loads(path.read_text()), path.parent))
        took = time.perf_counter() - started
        print(f"coverage: draw {seed} ({k + 1}/{args.draws}) in {took:.0f} s", file=sys.stderr)
    rows = coverage(found)
    text = table(rows, len(found))
    print(text)
    write_text(args.out / "coverage.md", text + "\n")
    plot(rows, found, args.out / "coverage.png")
    write_json(
        args.out / "coverage.json",
        {
            "draw_seeds": [args.first_seed + k for k in range(args.draws)],
            "test_set": {k: design[k] for k in ("videos_per_class", "pairs", "data_seed")},
            "models": {name: run.path for name, run in design["runs"].items()},
            "figures": rows,
            "provenance": provenance({k: str(v) for k, v in vars(args).items()}),
        },
    )


if __name__ == "__main__":
    main()
