"""Query expansion on the demo: train iQuery without one class, add that class afterwards with
each recipe of ``iquery/model/expansion.py``, and score every step on fixed pairs of the demo's
VALIDATION videos (the test pairs are never read: a recipe is chosen here).

    python bench/expansion_demo.py [--held-out tuba] [--steps 300] [--pairs 240] \
        [--reference results/demo/iquery/seed-1234/train_summary.json] \
        [--out results/demo/expansion]

Needs the demo's shards and splits (``snakemake --cores 2 preprocess_demo``). The base run has
the demo's iquery settings with ``exclude_classes: [held-out]``; each expansion starts from its
best checkpoint. Printed: SDR on the validation pairs that contain the held-out class, and on the
others (the old classes), each with its 95 % interval over the validation videos, and each
model's paired difference from the base on the old classes and from the run trained on every
class (``--reference``) on the new class's pairs, beside the unprocessed mixture. Figures are
printed and written to ``OUT/expansion.json``, never checked.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

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


def scores(summary: Path, data: Path, pairs: Path, out: Path, name: str, checkpoint="best") -> list:
    from iquery.model.evaluation import evaluate_run

    result = evaluate_run(
        summary,
        data / "shards" / "val.json",
        pairs,
        metrics=out / f"{name}-metrics.json",
        per_pair=out / f"{name}-per_pair.tsv",
        checkpoint=checkpoint,
        jobs=2,
    )
    return result["rows"]


def part(rows: list, held_out: str, with_it: bool) -> list:
    """The scored rows whose pairs hold the held-out class (or not)."""
    return [
        r for r in rows
        if not r["skipped"] and (held_out in (r["class_a"], r["class_b"])) == with_it
    ]  # fmt: skip


def figures(rows: list, against: list | None = None) -> dict | None:
    """SDR over ``rows`` with its interval over the videos, the mixture's, and (``against``:
    another model's rows on the same pairs) the paired difference."""
    from iquery.model.intervals import TestSet

    def key(row):
        return tuple(row[k] for k in ("class_a", "vid_a", "class_b", "vid_b"))

    if against is not None:  # the pairs both scored, in the same order
        theirs = {key(r): r for r in against}
        rows = [r for r in rows if key(r) in theirs]
        against = [theirs[key(r)] for r in rows]
    if not rows:
        return None
    keys = [key(r) for r in rows]
    test = TestSet.of(keys)
    model = test.values([rows], "model_sdr")
    out = {
        "pairs": len(rows),
        "videos": test.videos,
        "sdr": test.figure(model),
        "mixture_sdr": float(test.values([rows], "mixture_sdr").mean()),
    }
    if against is not None:
        other = test.values([against], "model_sdr")
        diff, _ = test.difference(model, other)
        out["difference"] = diff.as_dict()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--held-out", default="tuba")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--pairs", type=int, default=240, help="validation pairs to score")
    parser.add_argument("--seed", type=int, default=0, help="draws the validation pairs")
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "demo")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "demo" / "expansion")
    parser.add_argument("--reference", type=Path, help="train_summary.json of an all-class run")
    args = parser.parse_args()
    from iquery.pipeline.datasets.splits import draw_pairs

    args.out.mkdir(parents=True, exist_ok=True)
    pairs = draw_pairs(
        args.data / "splits" / "val.tsv", args.pairs, args.seed, args.out / "validation_pairs.tsv"
    )
    started = time.time()
    base = train_base(args.held_out, args.out, args.data)
    base_name = "base (held-out class never seen)"
    rows = {base_name: scores(base, args.data, pairs, args.out, "base")}
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
        rows[f"expanded {mode}"] = scores(
            base, args.data, pairs, args.out, mode, checkpoint=str(checkpoint)
        )
    reference_name = "trained on every class"
    if args.reference:
        rows[reference_name] = scores(args.reference, args.data, pairs, args.out, "reference")

    old_base = part(rows[base_name], args.held_out, False)
    new_reference = part(rows[reference_name], args.held_out, True) if args.reference else None
    table = []
    for name, found in rows.items():
        new = part(found, args.held_out, True)
        table.append(
            {
                "model": name,
                "new_class": figures(
                    new, new_reference if new and name != reference_name else None
                ),
                "old_classes": figures(
                    part(found, args.held_out, False), old_base if name != base_name else None
                ),
            }
        )

    def span(entry, key="sdr"):
        if not entry:
            return "–"
        f = entry[key]
        if f.get("low") is None:
            return f"{f['mean']:.2f}"
        return f"{f['mean']:.2f} [{f['low']:.2f}, {f['high']:.2f}]"

    def change(entry):
        if not entry or "difference" not in entry:
            return "–"
        d = entry["difference"]
        if d.get("low") is None:
            return f"{d['mean']:+.2f}"
        return f"{d['mean']:+.2f} [{d['low']:+.2f}, {d['high']:+.2f}]"

    print(f"\nheld-out class: {args.held_out}; {args.steps} expansion steps; validation pairs")
    print(
        "| model | SDR, pairs with it | − all-class run | SDR, other pairs | − base |"
        "\n|---|---|---|---|---|"
    )
    for r in table:
        print(
            f"| {r['model']} | {span(r['new_class'])} | {change(r['new_class'])} | "
            f"{span(r['old_classes'])} | {change(r['old_classes'])} |"
        )
    mixture = table[0]["new_class"] or table[-1]["new_class"]
    if mixture:
        print(f"| the mixture | {mixture['mixture_sdr']:.2f} | | "
              f"{table[0]['old_classes']['mixture_sdr']:.2f} | |")  # fmt: skip
    print("(intervals: 95 %, over the validation videos; differences paired on the same pairs)")
    from iquery.pipeline.core.files import write_json
    from iquery.pipeline.core.provenance import provenance

    write_json(
        args.out / "expansion.json",
        {
            "held_out": args.held_out,
            "steps": args.steps,
            "pairs": str(pairs),
            "scored_on": "validation",
            "table": table,
            "seconds": timing,
            "provenance": provenance({k: str(v) for k, v in vars(args).items()}),
        },
    )


if __name__ == "__main__":
    main()
