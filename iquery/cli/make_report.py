"""One self-contained HTML page comparing a dataset's runs: tables with intervals, the paired
differences and what they resolve, per-class figures, training curves, examples with sound.

    python -m iquery.cli.make_report --comparison results/demo/comparison.json \
        --out results/demo/report.html

Reads the comparison (``iquery.cli.compare``) and, from the run folders it lists, the training logs
and the first run's examples. Figures are PNGs and sounds WAVs, embedded as data URIs: the page
opens from disk, can be mailed, and needs no network (``iquery/pipeline/report/report.py``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from iquery.pipeline.core.files import atomic_path, read_json, write_text, write_tsv
from iquery.pipeline.report.report import (
    build_report,
    read_compared,
    report_figures,
    report_tables,
)


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--comparison", required=True, type=Path, help="compare's JSON")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--title", help="default: '<dataset>: <runs>'")
    parser.add_argument(
        "--files",
        type=Path,
        help="also write the figures (PNG) and tables (TSV) here, one file each (the workflow "
        "marks them for snakemake --report)",
    )
    args = parser.parse_args(argv)
    try:
        comparison = read_json(args.comparison, "run iquery.cli.compare first")
        runs = read_compared(comparison)
    except ValueError as err:
        raise SystemExit(f"report: {err}") from err
    seeds = comparison.get("seeds") or []
    title = args.title or (
        f"{comparison.get('dataset', '?')}: {', '.join(runs)}"
        + (f" over {len(seeds)} seeds" if len(seeds) > 1 else "")
    )
    figures = report_figures(comparison, runs)
    page = build_report(comparison, runs, title, figures)
    if args.files:
        for name, png in figures.items():
            with atomic_path(args.files / name) as tmp:
                tmp.write_bytes(png or b"")  # no training logs: an empty file, as declared
        for name, (columns, rows) in report_tables(comparison).items():
            write_tsv(args.files / name, columns, rows)
    write_text(args.out, page)
    print(f"report: {args.out} ({len(page) / 1e6:.1f} MB)", file=sys.stderr)
    return args.out


if __name__ == "__main__":
    main()
