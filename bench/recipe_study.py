"""Choose a recipe on validation: train variants of one run's settings and score each on fixed
pairs of the VALIDATION split, with intervals and paired differences from the first variant.
The test pairs are never read.

    python bench/recipe_study.py --variant base '{}' \
        --variant lr2e-3 '{"lr_sound": 2e-3}' --variant 12ep '{"epochs": 12, "lr_steps": [10]}' \
        [--dataset demo --run iquery --pairs 240 --jobs 2 --out results/demo/recipe_study]

Each variant is the run's settings from config.yaml (``iquery.model.settings.run_settings``) with
the given keys changed, trained with ``iquery.cli.train`` (``--jobs`` at a time, one core each: the
demo's runs train side by side), then scored with ``iquery.cli.evaluate`` on
``--pairs`` pairs drawn among the validation videos (each video in as many pairs as the others,
seeded by ``--seed``), and compared with ``iquery.cli.compare``. Needs the dataset's
shards (``snakemake --cores 2 preprocess_demo data/demo/visual_encoder/encoder.pt``). A variant
already trained in OUT is not trained again. Prints one table and writes OUT/study.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def settings_for(dataset: str, run: str, change: dict, config_path: Path) -> dict:
    import yaml

    from iquery.model.settings import load_settings, run_settings, with_crops_encoder
    from iquery.pipeline.core.layout import Layout

    config = yaml.safe_load(config_path.read_text())
    layout = Layout(**config["paths"])
    settings = load_settings(run_settings(config, dataset, run).to_dict() | change, "--variant")
    return with_crops_encoder(settings, ROOT / layout.visual_encoder(dataset)).to_dict()


def same_settings(run: Path, settings: dict) -> bool:
    """The folder holds a run trained with exactly these settings (then it is not trained
    again; training itself starts afresh where they differ)."""
    saved = run / "config.json"
    if not saved.is_file():
        return False
    recorded = json.loads(saved.read_text())
    return all(recorded.get(k) == v for k, v in settings.items() if k != "num_workers")


def train_and_score(name: str, settings: dict, shards: Path, pairs: Path, out: Path) -> dict:
    """Train one variant (unless done) and score its best checkpoint on the validation pairs."""
    run = out / name
    run.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    if not same_settings(run, settings):
        for stale in ("train_summary.json", "per_pair.tsv", "metrics.json"):
            (run / stale).unlink(missing_ok=True)
    if not (run / "train_summary.json").is_file():
        with open(run / "train.log", "w") as log:
            subprocess.run(
                [
                    sys.executable, "-m", "iquery.cli.train",
                    "--train-shards", str(shards / "train.json"),
                    "--select-shards", str(shards / "val.json"), "--select-on", "val",
                    "--run-dir", str(run), "--config-json", json.dumps(settings),
                    "--on-change=restart",
                ],
                check=True, cwd=ROOT, stdout=log, stderr=log,
                # As the train rule: one BLAS thread, or validation's scoring fights the
                # other variant for the cores.
                env=os.environ | {"OPENBLAS_NUM_THREADS": str(settings["threads"] or 1)},
            )  # fmt: skip
    trained = time.perf_counter() - started
    if not (run / "per_pair.tsv").is_file():
        with open(run / "evaluate.log", "w") as log:
            subprocess.run(
                [
                    sys.executable, "-m", "iquery.cli.evaluate",
                    "--summary", str(run / "train_summary.json"),
                    "--shards", str(shards / "val.json"), "--pairs", str(pairs),
                    "--metrics", str(run / "metrics.json"),
                    "--per-pair", str(run / "per_pair.tsv"), "--threads", "1",
                ],
                check=True, cwd=ROOT, stdout=log, stderr=log,
                env=os.environ | {"OPENBLAS_NUM_THREADS": "1"},
            )  # fmt: skip
    summary = json.loads((run / "train_summary.json").read_text())
    return {
        "name": name,
        "folder": str(run),
        "train_seconds": summary.get("seconds_this_invocation") or round(trained, 1),
        "steps": summary.get("optimizer_steps"),
        "seconds_per_batch": summary.get("seconds_per_batch"),
        "best_checkpoint": summary.get("best_checkpoint"),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--variant", nargs=2, action="append", required=True, metavar=("NAME", "JSON"),
        help="a name and the settings it changes (JSON); the first is the base",
    )  # fmt: skip
    parser.add_argument("--dataset", default="demo")
    parser.add_argument("--run", default="iquery", help="whose settings the variants change")
    parser.add_argument("--config", type=Path, default=ROOT / "config.yaml")
    parser.add_argument("--pairs", type=int, default=240, help="validation pairs to score")
    parser.add_argument("--seed", type=int, default=0, help="draws the validation pairs")
    parser.add_argument("--jobs", type=int, default=2, help="variants trained at once")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    import yaml

    from iquery.pipeline.core.layout import Layout
    from iquery.pipeline.datasets.splits import draw_pairs

    config = yaml.safe_load(args.config.read_text())
    layout = Layout(**config["paths"])
    shards = ROOT / Path(layout.shard_index(args.dataset, "val")).parent
    out = args.out or ROOT / layout.results / args.dataset / "recipe_study"
    out.mkdir(parents=True, exist_ok=True)
    split = ROOT / layout.split(args.dataset, "val")
    pairs = draw_pairs(split, args.pairs, args.seed, out / "validation_pairs.tsv")
    variants = {
        name: settings_for(args.dataset, args.run, json.loads(text), args.config)
        | {"threads": 1, "num_workers": 0}
        for name, text in args.variant
    }
    with ThreadPoolExecutor(args.jobs) as pool:
        done = list(
            pool.map(
                lambda item: train_and_score(item[0], item[1], shards, pairs, out),
                variants.items(),
            )
        )
    from iquery.model.comparison import compare, read_runs

    result = compare(read_runs({d["name"]: [d["folder"]] for d in done}))
    base = next(iter(variants))
    # compare() gives base − variant; the table reads variant − base.
    differences = {
        d["b"]: {
            "mean": -d["mean"], "low": -d["high"], "high": -d["low"],
            "wins_a": d["wins_b"], "wins_b": d["wins_a"],
        }
        for d in result["differences"]
        if d["a"] == base and d["b"] != "mixture"
    }  # fmt: skip
    print(f"\nvalidation pairs: {result['pairs']['compared']} ({pairs})")
    print("| variant | changes | train s | validation SDR | − base (paired) | won / lost |")
    print("|---|---|---|---|---|---|")
    for entry, (name, text) in zip(done, args.variant, strict=True):
        sdr = next(m for m in result["methods"] if m["name"] == name)["sdr"]
        line = f"| {name} | `{text}` | {entry['train_seconds']:.0f} | "
        line += f"{sdr['mean']:.2f} [{sdr['low']:.2f}, {sdr['high']:.2f}] | "
        if name in differences:
            d = differences[name]
            line += f"{d['mean']:+.2f} [{d['low']:+.2f}, {d['high']:+.2f}] | "
            line += f"{d['wins_a']} / {d['wins_b']} |"
        else:
            line += "(base) | |"
        print(line)
    mixture = next(m for m in result["methods"] if m["name"] == "mixture")["sdr"]
    print(f"| mixture | | | {mixture['mean']:.2f} | | |")
    study = {"variants": done, "changes": dict(args.variant), "comparison": result}
    (out / "study.json").write_text(json.dumps(study, indent=1))
    return study


if __name__ == "__main__":
    main()
