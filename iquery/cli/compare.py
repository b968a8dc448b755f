"""Compare a dataset's evaluated runs: each method over its training seeds with 95 % intervals,
and the paired differences between methods scored on the same test pairs.

    python -m iquery.cli.compare \
        --run iquery results/demo/iquery/seed-1234 results/demo/iquery/seed-1235 \
        --run sop results/demo/sop/seed-1234 results/demo/sop/seed-1235 \
        --out results/demo/comparison.json

Each ``--run`` names a run and its seeds' folders (each trained and evaluated); the first run
leads the tables. See ``iquery/model/comparison.py``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from iquery.pipeline.core.files import write_json
from iquery.pipeline.core.provenance import provenance


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--run",
        nargs="+",
        action="append",
        required=True,
        metavar=("NAME", "FOLDER"),
        help="a run's name, then the folder of each of its seeds",
    )
    parser.add_argument("--dataset", help="recorded in the output (default: from the folders)")
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args(argv)
    runs: dict[str, list[str]] = {}
    for name, *folders in args.run:
        if not folders:
            parser.error(f"--run {name}: give the folder of each of its seeds")
        if name in runs:
            parser.error(f"--run {name} given twice")
        runs[name] = folders
    from iquery.model.comparison import compare, read_runs

    try:
        results = read_runs(runs)
        result = compare(results)
    except ValueError as err:
        raise SystemExit(f"compare: {err}") from err
    dataset = args.dataset or Path(next(iter(runs.values()))[0]).parent.parent.name
    # What the figures come from: each seed's training config hash.
    trained = {r.name: [s.metrics.get("config_hash") for s in r.seeds] for r in results}
    result = {"dataset": dataset, **result, "trained": trained, **provenance(trained)}
    write_json(args.out, result)
    for entry in result["differences"]:
        print(f"compare: {entry['sentence']}", file=sys.stderr)
    return result


if __name__ == "__main__":
    main()
