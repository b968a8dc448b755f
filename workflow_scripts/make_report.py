"""One self-contained HTML page comparing a dataset's runs: table, curves, examples, sound.

    python -m workflow_scripts.make_report --run results/demo/iquery \
        --compare results/demo/sop results/demo/nomotion --out results/demo/iquery/report.html

Figures are PNGs and sounds WAVs, embedded as data URIs: the page opens from disk, can be
mailed, and needs no network (see ``pipeline/report.py``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipeline.files import write_text
from pipeline.report import build_report, read_run


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", required=True, type=Path, help="the run the page is about")
    parser.add_argument("--compare", nargs="*", type=Path, default=[], help="other runs' folders")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--title", help="default: '<dataset>: <run>'")
    args = parser.parse_args(argv)
    try:
        main_run = read_run(args.run)
        others = [read_run(f) for f in args.compare if f.resolve() != args.run.resolve()]
    except ValueError as err:
        raise SystemExit(f"report: {err}") from err
    title = args.title or f"{args.run.parent.name}: {args.run.name}"
    page = build_report(main_run, others, title)
    write_text(args.out, page)
    print(f"report: {args.out} ({len(page) / 1e6:.1f} MB)", file=sys.stderr)
    return args.out


if __name__ == "__main__":
    main()
