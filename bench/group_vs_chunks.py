"""Snakemake's own cost of a per-video stage run as chunk jobs or as grouped per-video jobs.

    python bench/group_vs_chunks.py [--sizes 27 4143 200000] [--chunks 32] [--timeout 600]
                                    [--out results.json]

The workflow deals a dataset's videos to ``<stage>.chunks`` jobs per stage, each looping over its
videos in Python, writing every video's files and keeping a record per video inside the job, so
that Snakemake only sees a few dozen jobs (pipeline/batches.py). Snakemake's job grouping could
do the bundling instead: one job per video per stage, the per-video files as declared outputs,
``group:`` on the rules and ``--group-components stage=K`` so that K connected per-video pieces
of the DAG go to one group job. This bench decides whether that could replace the hand-written
chunking layer, by timing both on a two-stage mini workflow ("audio", then "frames" reading
audio's per-video output) whose jobs do next to nothing (a few bytes derived from the input), so
that what is measured is Snakemake's own overhead:

- chunks: the N videos dealt to C chunk jobs per stage (as ``deal`` does); a chunk job keeps a
  video whose output is newer than its input and redoes the others; its declared output is the
  chunk's table (TSV). Snakemake sees 2 C + 1 jobs.
- group: 2 N + 1 jobs, the per-video rules in group "stage", run with
  ``--group-components stage=K``, K = ceil(N / C), so about C group jobs.

For each N and each way, in a fresh temporary folder holding N dummy inputs named like real ids
(videos/<class>/<vid>.txt), it times ``python -m snakemake --cores 2``: the dry run from
nothing, the real run from nothing, the no-op rerun, and the rerun after one input was touched
(with the number of jobs that rerun scheduled, its "Job stats" total, the ``all`` job included).
Peak memory is the largest resident set of the snakemake process (or of any of its children).
A command past --timeout is killed and reported as such; the later steps of that way and size
are then skipped. Figures are printed as a markdown table and written as JSON with --out.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

CLASSES = (
    "accordion",
    "acoustic_guitar",
    "cello",
    "clarinet",
    "erhu",
    "flute",
    "saxophone",
    "trumpet",
    "tuba",
    "violin",
    "xylophone",
)
ID_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

# What both ways' jobs do for one video: keep it when its output is newer than its input (the
# chunk jobs' per-video record), otherwise write a few bytes derived from the input.
COMMON = '''import hashlib
import os

IDS = open("ids.txt").read().split()


def step(src, dst, stage):
    """One video's work: (status, digest of what was written)."""
    if os.path.exists(dst) and os.path.getmtime(dst) >= os.path.getmtime(src):
        return "kept", open(dst).read().split()[-1]
    digest = hashlib.sha1(open(src, "rb").read()).hexdigest()[:12]
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    with open(dst, "w") as f:
        f.write(f"{stage} {digest}\\n")
    return "made", digest
'''

CHUNKS_SNAKEFILE = (
    COMMON
    + """

CHUNKS = __CHUNKS__


def deal(items, chunks):
    n, k = len(items), min(chunks, len(items))
    return [items[i * n // k : (i + 1) * n // k] for i in range(k)]


PARTS = deal(IDS, CHUNKS)


def run_chunk(chunk, source, stage, table):
    rows = [(v, *step(f"{source}/{v}.txt", f"{stage}/{v}.txt", stage)) for v in PARTS[chunk]]
    with open(table, "w") as f:
        f.write("video\\tstatus\\tdigest\\n")
        f.writelines("\\t".join(row) + "\\n" for row in rows)


wildcard_constraints:
    chunk=r"\\d+",


rule all:
    input:
        expand("frames/chunk-{chunk}.tsv", chunk=range(len(PARTS))),


rule audio:
    input:
        lambda wildcards: [f"videos/{v}.txt" for v in PARTS[int(wildcards.chunk)]],
    output:
        "audio/chunk-{chunk}.tsv",
    run:
        run_chunk(int(wildcards.chunk), "videos", "audio", output[0])


rule frames:
    input:
        "audio/chunk-{chunk}.tsv",
    output:
        "frames/chunk-{chunk}.tsv",
    run:
        run_chunk(int(wildcards.chunk), "audio", "frames", output[0])
"""
)

GROUP_SNAKEFILE = (
    COMMON
    + """

wildcard_constraints:
    video=r"[^/]+/[^/]+",


rule all:
    input:
        expand("frames/{video}.txt", video=IDS),


rule audio:
    input:
        "videos/{video}.txt",
    output:
        "audio/{video}.txt",
    group:
        "stage"
    run:
        step(input[0], output[0], "audio")


rule frames:
    input:
        "audio/{video}.txt",
    output:
        "frames/{video}.txt",
    group:
        "stage"
    run:
        step(input[0], output[0], "frames")
"""
)

WAYS = ("chunks", "group")


@dataclass
class Call:
    """One snakemake command: seconds, exit status, peak memory and what it printed."""

    seconds: float
    returncode: int | None  # None: killed at the timeout
    max_rss_mib: float
    printed: str

    @property
    def timed_out(self) -> bool:
        return self.returncode is None


@dataclass
class Result:
    """One way at one size; a step is None when it was skipped, "timeout" when killed."""

    size: int
    way: str
    group_components: int | None
    dag_jobs: int | None = None
    group_jobs: int | None = None
    dry_run_s: float | str | None = None
    first_run_s: float | str | None = None
    noop_rerun_s: float | str | None = None
    noop_rerun_jobs: int | None = None
    changed_rerun_s: float | str | None = None
    changed_rerun_jobs: int | None = None
    peak_mib: float = 0.0
    notes: list[str] = field(default_factory=list)


def video_ids(n: int) -> list[str]:
    """``n`` distinct ids shaped like the datasets' (<class>/<11-character YouTube id>)."""
    ids = []
    for i in range(n):
        digest = hashlib.sha256(str(i).encode()).digest()
        vid = "".join(ID_LETTERS[b % 64] for b in digest[:11])
        ids.append(f"{CLASSES[i % len(CLASSES)]}/{vid}")
    return ids


def make_workflow(folder: Path, way: str, ids: list[str], chunks: int) -> None:
    """The mini workflow of ``way`` in ``folder``: its Snakefile, ids.txt and one input per id."""
    template = CHUNKS_SNAKEFILE if way == "chunks" else GROUP_SNAKEFILE
    (folder / "Snakefile").write_text(template.replace("__CHUNKS__", str(chunks)))
    (folder / "ids.txt").write_text("".join(f"{v}\n" for v in ids))
    for cls in CLASSES:
        (folder / "videos" / cls).mkdir(parents=True, exist_ok=True)
    for v in ids:
        (folder / "videos" / f"{v}.txt").write_text(f"video {v}\n")


def snakemake(folder: Path, extra: list[str], args: list[str], timeout: float) -> Call:
    """Run ``python -m snakemake --cores 2`` in ``folder``; its process group is killed at
    ``timeout`` seconds. Peak memory comes from wait4, i.e. that process and its children."""
    cmd = [sys.executable, "-m", "snakemake", "--cores", "2", "--directory", str(folder)]
    cmd += ["--snakefile", str(folder / "Snakefile"), *extra, *args]
    log = folder / "snakemake.out"
    with log.open("w") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        killed = threading.Event()

        def kill() -> None:
            killed.set()
            os.killpg(proc.pid, signal.SIGKILL)

        timer = threading.Timer(timeout, kill)
        timer.start()
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        timer.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)
    printed = log.read_text(errors="replace")
    code = None if killed.is_set() else proc.returncode
    if code not in (0, None):
        sys.exit(f"{' '.join(cmd)} failed ({code}):\n{printed[-4000:]}")
    return Call(seconds, code, usage.ru_maxrss / 1024, printed)


def job_total(printed: str) -> int:
    """The first "Job stats" total (0 when Snakemake had nothing to do)."""
    match = re.search(r"^total\s+(\d+)", printed, re.M)
    return int(match[1]) if match else 0


def group_job_count(printed: str) -> int:
    """Group jobs a dry run listed (one "Group job <group> (jobs in ...):" line each)."""
    return len(re.findall(r"\] Group job \S+ \(jobs in", printed))


def touch_one(folder: Path, ids: list[str]) -> None:
    """Make the middle video's input newer than everything made from it."""
    path = folder / "videos" / f"{ids[len(ids) // 2]}.txt"
    later = time.time() + 1
    os.utime(path, (later, later))


def bench(size: int, way: str, chunks: int, timeout: float) -> Result:
    """Time the four steps of one way at one size in a fresh temporary folder."""
    k = math.ceil(size / chunks) if way == "group" else None
    extra = ["--group-components", f"stage={k}"] if k else []
    result = Result(size, way, k)
    ids = video_ids(size)
    folder = Path(tempfile.mkdtemp(prefix=f"group_vs_chunks-{way}-{size}-"))
    try:
        make_workflow(folder, way, ids, chunks)

        def step(name: str, args: list[str]) -> Call | None:
            call = snakemake(folder, extra, args, timeout)
            result.peak_mib = max(result.peak_mib, call.max_rss_mib)
            if call.timed_out:
                setattr(result, name, f"timed out after {timeout:g} s")
                result.notes.append(f"{name} timed out: later steps skipped")
                return None
            setattr(result, name, round(call.seconds, 2))
            return call

        dry = step("dry_run_s", ["-n"])
        if dry is None:
            return result
        result.dag_jobs = job_total(dry.printed)
        result.group_jobs = group_job_count(dry.printed) if k else None
        if step("first_run_s", []) is None:
            return result
        noop = step("noop_rerun_s", [])
        if noop is None:
            return result
        result.noop_rerun_jobs = job_total(noop.printed)
        touch_one(folder, ids)
        changed = step("changed_rerun_s", [])
        if changed is not None:
            result.changed_rerun_jobs = job_total(changed.printed)
        return result
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def cell(value: object) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def table(results: list[Result]) -> str:
    """The results as a markdown table, one row per size and way."""
    head = (
        "| N | way | jobs in DAG | group jobs (dry run) | dry run s | first run s "
        "| no-op rerun s | one-changed rerun s | jobs it ran | peak MiB |"
    )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in results:
        way = r.way if r.group_components is None else f"group (stage={r.group_components})"
        cells = [
            r.size,
            way,
            r.dag_jobs,
            r.group_jobs,
            r.dry_run_s,
            r.first_run_s,
            r.noop_rerun_s,
            r.changed_rerun_s,
            r.changed_rerun_jobs,
            round(r.peak_mib),
        ]
        lines.append("| " + " | ".join(cell(c) for c in cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[27, 4143, 200000])
    parser.add_argument("--chunks", type=int, default=32, help="chunk jobs per stage (C)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per command")
    parser.add_argument("--out", type=Path, help="write the results here as JSON")
    args = parser.parse_args()
    results = []
    for size in args.sizes:
        for way in WAYS:
            result = bench(size, way, args.chunks, args.timeout)
            print(f"N={size} {way}: {asdict(result)}", file=sys.stderr, flush=True)
            results.append(result)
    print(table(results))
    if args.out:
        setup = {"chunks": args.chunks, "timeout_s": args.timeout, "cores": 2}
        payload = {"setup": setup, "results": [asdict(r) for r in results]}
        args.out.write_text(json.dumps(payload, indent=2) + "\n")


if __name__ == "__main__":
    main()
