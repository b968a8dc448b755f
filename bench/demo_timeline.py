"""Where a workflow run's time went: every job's start and end from Snakemake's log, per rule.

    python bench/demo_timeline.py [--log .snakemake/log/LATEST.snakemake.log] [--png timeline.png]

Reads the run's log (the newest under ``.snakemake/log/`` by default): each job's start
(``[time]`` then ``rule NAME:`` and its ``jobid``) and end (``Finished jobid: N``). Prints, per
rule in order of first start: jobs, first start and last end (seconds from the run's start),
the wall-clock span, the jobs' summed time, and how many cores that kept busy on average.
``--png`` draws every job as a bar on a time line, one row per rule: idle cores show as gaps.
The log has one-second resolution; the heavy jobs' own ``benchmark:`` files (seconds, memory)
sit in ``data/{dataset}/benchmarks/`` and ``results/{dataset}/benchmarks/``.
"""

from __future__ import annotations

import argparse
import re
import sys
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

STAMP = re.compile(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]$")
START = re.compile(r"^(?:local)?(?:rule|checkpoint) (\w+):$")
JOBID = re.compile(r"^\s+jobid: (\d+)$")
END = re.compile(r"^Finished jobid: (\d+) \(Rule: (\w+)\)$")


def parse(log: Path) -> list[dict]:
    """Jobs as {rule, jobid, start, end} (datetimes), from one Snakemake log."""
    jobs: dict[int, dict] = {}
    stamp = pending = None
    for line in log.read_text(errors="replace").splitlines():
        if match := STAMP.match(line):
            stamp = datetime.strptime(" ".join(match[1].split()), "%a %b %d %H:%M:%S %Y")
        elif match := START.match(line):
            pending = match[1]
        elif (match := JOBID.match(line)) and pending:
            jobs[int(match[1])] = {"rule": pending, "jobid": int(match[1]), "start": stamp}
            pending = None
        elif (match := END.match(line)) and int(match[1]) in jobs:
            jobs[int(match[1])]["end"] = stamp
    return [j for j in jobs.values() if "end" in j]


def per_rule(jobs: list[dict]) -> list[dict]:
    origin = min(j["start"] for j in jobs)
    rules: dict[str, dict] = {}
    for job in sorted(jobs, key=lambda j: j["start"]):
        entry = rules.setdefault(job["rule"], {"rule": job["rule"], "jobs": 0, "busy": 0.0})
        start = (job["start"] - origin).total_seconds()
        end = (job["end"] - origin).total_seconds()
        entry["jobs"] += 1
        entry["busy"] += end - start
        entry["first"] = min(entry.get("first", start), start)
        entry["last"] = max(entry.get("last", end), end)
    for entry in rules.values():
        entry["span"] = entry["last"] - entry["first"]
    return list(rules.values())


def draw(jobs: list[dict], path: Path) -> None:
    from iquery.pipeline.report.report import pyplot

    plt = pyplot()

    origin = min(j["start"] for j in jobs)
    order = [r["rule"] for r in per_rule(jobs)]
    fig, ax = plt.subplots(figsize=(11, 0.35 * len(order) + 1.2))
    for job in jobs:
        start = (job["start"] - origin).total_seconds() / 60
        width = max((job["end"] - job["start"]).total_seconds() / 60, 0.02)
        ax.barh(order.index(job["rule"]), width, left=start, height=0.6, alpha=0.6)
    ax.set_yticks(range(len(order)), order)
    ax.invert_yaxis()
    ax.set(xlabel="minutes from the start", title="jobs over time, one row per rule")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--log", type=Path, help="a Snakemake log (default: the newest)")
    parser.add_argument("--png", type=Path, help="draw the jobs on a time line")
    args = parser.parse_args()
    log = args.log or max(Path(".snakemake/log").glob("*.snakemake.log"), key=lambda p: p.name)
    jobs = parse(log)
    if not jobs:
        raise SystemExit(f"{log}: no finished jobs in it")
    total = max((j["end"] - min(x["start"] for x in jobs)).total_seconds() for j in jobs)
    print(f"{log}: {len(jobs)} jobs, {total / 60:.1f} min from first start to last end\n")
    print("| rule | jobs | from s | to s | wall s | jobs' sum s | cores busy |")
    print("|---|---|---|---|---|---|---|")
    for r in per_rule(jobs):
        busy = r["busy"] / r["span"] if r["span"] else 0
        print(
            f"| {r['rule']} | {r['jobs']} | {r['first']:.0f} | {r['last']:.0f} | "
            f"{r['span']:.0f} | {r['busy']:.0f} | {busy:.1f} |"
        )
    if args.png:
        draw(jobs, args.png)
        print(f"\ntime line: {args.png}")


if __name__ == "__main__":
    main()
