"""Same config and seed, same numbers? Train one run under several CPU set-ups side by side
and compare what comes out: losses step by step, validation SDR, the final weights.

    python bench/reproducibility.py [--epochs 2] [--out /tmp/repro]

Needs the demo's shards and encoder (``snakemake --cores 2 preprocess_demo
data/demo/visual_encoder/encoder.pt``). Each condition trains the demo's iquery run (its
settings from config.yaml, ``--epochs`` epochs, one thread unless the condition says) in its
own process, one at a time:

* ``reference``: this machine as it is;
* ``again``: the same, a second time (is one machine repeatable?);
* ``avx2``: torch's own kernels held to AVX2 (``ATEN_CPU_CAPABILITY=avx2``), as on a CPU
  without AVX-512;
* ``avx2+onednn``: that, and oneDNN's convolutions held to AVX2 too (``ONEDNN_MAX_CPU_ISA``);
* ``2 threads``: two intra-op threads instead of one.

Printed per condition: the first logged step whose loss differs from the reference, the largest
weight difference at the end, the last validation SDR, and the time. Nothing is checked.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CONDITIONS = {
    "reference": ({}, 1),
    "again": ({}, 1),
    "avx2": ({"ATEN_CPU_CAPABILITY": "avx2"}, 1),
    "avx2+onednn": ({"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"}, 1),
    "2 threads": ({}, 2),
}


def losses(run: Path) -> list[tuple[int, float]]:
    rows = csv.DictReader(open(run / "logs" / "version_0" / "metrics.csv"))
    return [(int(r["step"]), float(r["train/loss_step"])) for r in rows if r["train/loss_step"]]


def last_sdr(run: Path) -> float:
    rows = csv.DictReader(open(run / "logs" / "version_0" / "metrics.csv"))
    return [float(r["val/sdr"]) for r in rows if r.get("val/sdr")][-1]


def weights(run: Path) -> dict:
    import torch

    state = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    return {k: v.float() for k, v in state.items() if v.is_floating_point()}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("/tmp/reproducibility"))
    args = parser.parse_args(argv)
    import yaml

    from iquery.model.settings import run_settings, with_crops_encoder
    from iquery.pipeline.core.layout import Layout
    from iquery.pipeline.core.provenance import cpu_model

    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    layout = Layout(**config["paths"])
    settings = run_settings(config, "demo", "iquery").replace(
        epochs=args.epochs, val_every=1, log_every_n_steps=1, num_workers=0
    )
    settings = with_crops_encoder(settings, ROOT / layout.visual_encoder("demo")).to_dict()
    shards = ROOT / Path(layout.shard_index("demo", "train")).parent
    facts = {}
    for name, (env, threads) in CONDITIONS.items():
        run = args.out / name.replace(" ", "-").replace("+", "-")
        started = time.perf_counter()
        command = [
            sys.executable, "-m", "iquery.cli.train",
            "--train-shards", str(shards / "train.json"),
            "--select-shards", str(shards / "val.json"), "--select-on", "val",
            "--run-dir", str(run), "--on-change=restart",
            "--config-json", json.dumps(settings | {"threads": threads}),
        ]  # fmt: skip
        run.mkdir(parents=True, exist_ok=True)
        with open(run.parent / f"{run.name}.log", "w") as log:
            subprocess.run(
                command, check=True, cwd=ROOT, stdout=log, stderr=log, env=os.environ | env
            )
        summary = json.loads((run / "train_summary.json").read_text())
        facts[name] = {
            "run": run,
            "seconds": time.perf_counter() - started,
            "capability": summary["provenance"]["machine"].get("cpu_capability"),
            "losses": losses(run),
            "sdr": last_sdr(run),
            "weights": weights(run),
        }
    reference = facts["reference"]
    print(f"\n{args.epochs} epochs of the demo's iquery run; CPU: {cpu_model()}")
    print("| condition | torch kernels | first step whose loss differs | max weight difference "
          "| last validation SDR | s |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    table = {}
    for name, fact in facts.items():
        differs = next(
            (
                s
                for (s, a), (_, b) in zip(fact["losses"], reference["losses"], strict=True)
                if a != b
            ),
            None,
        )
        gap = max(
            float((fact["weights"][k] - reference["weights"][k]).abs().max())
            for k in reference["weights"]
        )
        table[name] = {
            "capability": fact["capability"], "first_differing_step": differs,
            "max_weight_difference": gap, "last_val_sdr": fact["sdr"], "seconds": fact["seconds"],
        }  # fmt: skip
        print(
            f"| {name} | {fact['capability']} | {differs if differs is not None else 'none'} "
            f"| {gap:.2e} | {fact['sdr']:.4f} | {fact['seconds']:.0f} |"
        )
    (args.out / "reproducibility.json").write_text(json.dumps(table, indent=1))
    return table


if __name__ == "__main__":
    main()
