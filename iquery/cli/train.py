"""Train iQuery, its no-motion ablation or the Sound-of-Pixels baseline on a dataset's shards.

    python -m iquery.cli.train --train-shards data/demo/shards/train.json \
        --select-shards data/demo/shards/val.json --run-dir results/demo/iquery/seed-1234 \
        --config-json '{"variant": "iquery", "model": "tiny", "epochs": 5, "seed": 1}'

``--config-json`` is a JSON object or the path of a JSON file; keys not given take the defaults
in ``iquery/model/settings.py`` (the paper's MUSIC settings). Rerunning the same command resumes
from the run's last checkpoint (see ``iquery/model/training.py`` for the run folder and model
selection).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from iquery.model.settings import parse_settings
from iquery.pipeline.cluster.gpu_slots import add_gpus_argument, claim_gpus
from iquery.pipeline.cluster.ranks import LOCAL, SLURM_JOB, cluster_env, srun_command, where_running
from iquery.pipeline.core.errors import ConfigError, ShardError
from iquery.pipeline.core.layout import RunFolder


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train-shards", required=True, type=Path, help="the train split index")
    parser.add_argument(
        "--select-shards", required=True, type=Path, help="the split that picks the checkpoint"
    )
    parser.add_argument(
        "--select-on",
        choices=["val", "test"],
        default="val",
        help="which split --select-shards is (test = the paper's choice)",
    )
    parser.add_argument("--pairs", type=Path, help="with --select-on test: the test pairs")
    parser.add_argument("--run-dir", required=True, type=Path, help="results/<dataset>/<run>")
    parser.add_argument("--config-json", default="{}", help="JSON object or file of settings")
    parser.add_argument("--max-minutes", type=float, default=None, help="time budget of the run")
    parser.add_argument(
        "--cluster-env",
        choices=["auto", "lightning", "slurm"],
        default="auto",
        help="who starts the ranks of a run over several devices: lightning, or SLURM's srun "
        "(one task per device); auto: srun inside a SLURM job, else lightning",
    )
    parser.add_argument(
        "--on-change",
        choices=["error", "restart"],
        default="error",
        help="when the run folder holds a run with other settings or data: stop, or restart",
    )
    add_gpus_argument(parser)
    args = parser.parse_args(argv)
    try:
        settings = parse_settings(args.config_json)
    except ConfigError as err:
        raise SystemExit(f"train: {err}") from err
    ranks = settings.devices * settings.nodes
    where = where_running()
    if settings.nodes > 1 and where == LOCAL:
        raise SystemExit(
            f"train: nodes {settings.nodes}: a run over several nodes runs as a SLURM job "
            "(--profile profiles/slurm); on one machine set nodes: 1"
        )
    if ranks > 1 and where == SLURM_JOB and args.cluster_env == "auto":
        # This command runs once in the job; srun starts the job's tasks, one rank each.
        command = srun_command(
            ranks, settings.nodes, settings.threads, sys.argv[1:] if argv is None else argv
        )
        print(f"train: starting {ranks} ranks with srun in SLURM job {os.environ['SLURM_JOB_ID']}")
        sys.stdout.flush()
        os.execv(command[0], command)  # noqa: S606 (a fixed program, arguments as a list)
    claim_gpus(args.gpus)  # before CUDA starts: which of the machine's GPUs are ours
    from iquery.model.training import train  # imported here: --help stays fast

    try:
        if args.max_minutes is not None:
            settings = settings.replace(max_minutes=args.max_minutes)
        return train(
            args.train_shards,
            args.select_shards,
            RunFolder(str(args.run_dir)),
            settings,
            select_on=args.select_on,
            pairs=args.pairs,
            cluster_env=cluster_env(args.cluster_env, ranks),
            on_change=args.on_change,
        )
    except (ConfigError, ShardError) as err:
        raise SystemExit(f"train: {err}") from err


if __name__ == "__main__":
    main()
