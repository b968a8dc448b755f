"""Query expansion on the demo: train iQuery without one class, add that class afterwards with
each recipe of ``iquery/model/expansion.py``, and score every step on the demo's test pairs.

    python bench/expansion_demo.py [--held-out tuba] [--steps 300] [--out results/demo/expansion]

Needs the demo's shards and splits (``snakemake --cores 2 preprocess_demo``). The base run has
the demo's iquery settings with ``exclude_classes: [held-out]``; each expansion starts from its
best checkpoint. Printed: SDR on the test pairs that contain the held-out class, and on the
others (the old classes), before and after, beside the unprocessed mixture; ``--reference`` adds
a run trained on every class from the start. Figures are printed and written to
``OUT/expansion.json``, never checked.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def train_base(held_out: str, out: Path, data: Path) -> Path:
    import yaml

    from iquery.model.settings import run_settings, with_crops_encoder

    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    settings = run_settings(config, "demo", "iquery").replace(exclude_classes=[held_out])
    settings = with_crops_encoder(settings, data / "visual_encoder" / "encoder.pt").to_dict()
    summary = out / "base" / "train_summary.json"
    if not summary.is_file():
        command = [
            sys.executable, "-m", "iquery.cli.train",
            "--train-shards", str(data / "shards" / "train.json"),
            "--select-shards", str(data / "shards" / "val.json"),
            "--run-dir", str(out / "base"), "--config-json", json.dumps(settings),
            "--on-change=restart",
        ]  # fmt: skip
        with open(out / "base.log", "w") as log:
            subprocess.run(command, check=True, cwd=ROOT, stdout=log, stderr=log)
    return summary


def scores(summary: Path, data: Path, out: Path, name: str, checkpoint: str = "best") -> list:
    from iquery.model.evaluation import evaluate_run

    result = evaluate_run(
        summary,
        data / "shards" / "test.json",
        data / "splits" / "test_pairs.tsv",
        metrics=out / f"{name}-metrics.json",
        per_pair=out / f"{name}-per_pair.tsv",
        checkpoint=checkpoint,
        jobs=2,
    )
    return result["rows"]


def mean_sdr(rows: list, held_out: str, with_it: bool, column: str = "model_sdr"):
    chosen = [r[column] for r in rows if (held_out in (r["class_a"], r["class_b"])) == with_it]
    return (float(np.mean(chosen)), len(chosen)) if chosen else (None, 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--held-out", default="tuba")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "demo")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "demo" / "expansion")
    parser.add_argument("--reference", type=Path, help="train_summary.json of an all-class run")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    base = train_base(args.held_out, args.out, args.data)
    rows = {"base (held-out class never seen)": scores(base, args.data, args.out, "base")}
    timing = {"base_training_s": round(time.time() - started, 1)}
    for mode in ("query", "query+mask"):
        checkpoint = args.out / f"expanded-{mode.replace('+', '-')}.ckpt"
        begun = time.time()
        subprocess.run(
            [sys.executable, "-m", "iquery.cli.expand", "--summary", str(base)]
            + ["--train-shards", str(args.data / "shards" / "train.json")]
            + ["--new-class", args.held_out, "--mode", mode, "--steps", str(args.steps)]
            + ["--out", str(checkpoint)],
            check=True,
            cwd=ROOT,
        )
        timing[f"{mode}_s"] = round(time.time() - begun, 1)
        name = f"expanded {mode}"
        rows[name] = scores(base, args.data, args.out, mode, checkpoint=str(checkpoint))
    if args.reference:
        rows["trained on every class"] = scores(args.reference, args.data, args.out, "reference")

    base_old = mean_sdr(rows["base (held-out class never seen)"], args.held_out, False)[0]
    table = []
    for name, found in rows.items():
        new, n_new = mean_sdr(found, args.held_out, True)
        old, n_old = mean_sdr(found, args.held_out, False)
        table.append(
            {
                "model": name,
                "new_class_pairs": n_new,
                "sdr_new_class_pairs": new,
                "mixture_sdr_new_class_pairs": mean_sdr(found, args.held_out, True, "mixture_sdr")[
                    0
                ],
                "old_pairs": n_old,
                "sdr_old_pairs": old,
                "old_change_db": None if old is None else old - base_old,
            }
        )

    def fmt(value):
        return "–" if value is None else f"{value:.2f}"

    print(f"\nheld-out class: {args.held_out}; {args.steps} expansion steps")
    print("| model | SDR, pairs with it | mixture SDR there | SDR, other pairs | change |")
    print("|---|---|---|---|---|")
    for r in table:
        print(
            f"| {r['model']} | {fmt(r['sdr_new_class_pairs'])} ({r['new_class_pairs']}) | "
            f"{fmt(r['mixture_sdr_new_class_pairs'])} | {fmt(r['sdr_old_pairs'])} "
            f"({r['old_pairs']}) | {fmt(r['old_change_db'])} |"
        )
    from iquery.pipeline.core.files import write_json
    from iquery.pipeline.core.provenance import provenance

    write_json(
        args.out / "expansion.json",
        {
            "held_out": args.held_out,
            "steps": args.steps,
            "table": table,
            "seconds": timing,
            "provenance": provenance({k: str(v) for k, v in vars(args).items()}),
        },
    )


if __name__ == "__main__":
    main()
