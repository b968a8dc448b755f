"""Snakemake's own cost of a per-video stage run as chunk jobs or as grouped per-video jobs.

    python bench/group_vs_chunks.py [--sizes 27 4143 200000] [--chunks 32] [--timeout 600]
                                    [--out results.json]

The workflow deals a dataset's videos to ``<stage>.chunks`` jobs per stage, each looping over its
videos in Python, writing every video's files and keeping a record per video inside the job, so that
Snakemake only sees a few dozen jobs (iquery/pipeline/stages/batches.py). Snakemake's job grouping
could do the bundling instead: one job per video per stage, the per-video files as declared outputs,
``group:`` on the rules and ``--group-components stage=K`` so that K connected per-video pieces
of the DAG go to one group job. This bench decides whether that could replace the hand-written
chunking layer, by timing both on a two-stage mini workflow ("audio", then "frames" reading
audio's per-video output) whose jobs do next to nothing (a few bytes derived from the input), so
that what is measured is Snakemake's own overhead:

- chunks: the N videos dealt to C chunk jobs per stage (as ``deal`` does); a chunk job keeps a
  video whose output is newer than its input and redoes the others; its declared output is the
  chunk's table (TSV). Snakemake sees 2 C + 1 jobs.
- group: 2 N + 1 jobs, the per-video rules in group "stage", run with
  ``--group-components stage=K``, K = ceil(N / C), so about C group jobs. Snakemake forms group
  jobs only for a dry run or a cluster/cloud executor: run locally (as here, ``--cores 2``) it
  ignores groups and runs the 2 N + 1 jobs one by one, so the group way's real runs measure
  per-video jobs without the bundling.

For each N and each way, in a fresh temporary folder holding N dummy inputs named like real ids
(videos/<class>/<vid>.txt), it times ``python -m snakemake --cores 2``: the dry run from
nothing, the real run from nothing, the no-op rerun, the rerun after one input's modification
time was bumped (Snakemake 9 reruns nothing when a small input's checksum is unchanged), and the
rerun after one input's content changed; with the number of jobs each rerun scheduled (its "Job
stats" total, the ``all`` job included).
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

# Eleven class folders, as MUSIC has (their names do not matter here).
CLASSES = tuple(f"class_{k:02d}" for k in range(11))
ID_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

# Both Snakefiles are shell rules, as the workflow's are: a job spawned as a Python function
# (`run:`) would be a whole Snakemake process of its own in Snakemake 9.

# A chunk job: its share of the videos (as iquery.pipeline.stages.batches.deal cuts them), each kept
# when its output is newer than its input (the workflow keeps a record per video instead), otherwise
# written anew from the input; then the chunk's table, its declared output.
CHUNK_SCRIPT = """import hashlib
import os
import sys

chunk, chunks, source, stage, table = int(sys.argv[1]), int(sys.argv[2]), *sys.argv[3:]
ids = open("ids.txt").read().split()
n, k = len(ids), min(chunks, len(ids))
rows = []
for video in ids[chunk * n // k : (chunk + 1) * n // k]:
    src, dst = f"{source}/{video}.txt", f"{stage}/{video}.txt"
    if os.path.exists(dst) and os.path.getmtime(dst) >= os.path.getmtime(src):
        status, digest = "kept", open(dst).read().split()[-1]
    else:
        status, digest = "made", hashlib.sha1(open(src, "rb").read()).hexdigest()[:12]
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        with open(dst, "w") as f:
            f.write(f"{stage} {digest}\\n")
    rows.append(f"{video}\\t{status}\\t{digest}\\n")
with open(table, "w") as f:
    f.writelines(["video\\tstatus\\tdigest\\n", *rows])
"""

CHUNKS_SNAKEFILE = """import sys

CHUNKS = __CHUNKS__
PYTHON = sys.executable
IDS = open("ids.txt").read().split()
N, K = len(IDS), min(CHUNKS, len(IDS))


def chunk_inputs(wildcards):
    c = int(wildcards.chunk)
    return [f"videos/{v}.txt" for v in IDS[c * N // K : (c + 1) * N // K]]


wildcard_constraints:
    chunk=r"\\d+",


rule all:
    input:
        expand("frames/chunk-{chunk}.tsv", chunk=range(K)),


rule audio:
    input:
        chunk_inputs,
    output:
        "audio/chunk-{chunk}.tsv",
    shell:
        "{PYTHON:q} chunk.py {wildcards.chunk} {CHUNKS} videos audio {output:q}"


rule frames:
    input:
        "audio/chunk-{chunk}.tsv",
    output:
        "frames/chunk-{chunk}.tsv",
    shell:
        "{PYTHON:q} chunk.py {wildcards.chunk} {CHUNKS} audio frames {output:q}"
"""

# One job per video per stage, the two stages in one group.
GROUP_SNAKEFILE = """IDS = open("ids.txt").read().split()


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
    shell:
        "echo audio $(sha1sum < {input:q} | cut -c1-12) > {output:q}"


rule frames:
    input:
        "audio/{video}.txt",
    output:
        "frames/{video}.txt",
    group:
        "stage"
    shell:
        "echo frames $(sha1sum < {input:q} | cut -c1-12) > {output:q}"
"""

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
    """One way at one size. A time is in seconds, "timed out after T s" when the command was
    killed, None when skipped; a job count is the command's "Job stats" total."""

    size: int
    way: str
    group_components: int | None
    dag_jobs: int | None = None
    group_jobs: int | None = None  # group jobs the dry run listed
    dry_run_s: float | str | None = None
    first_run_s: float | str | None = None
    noop_rerun_s: float | str | None = None
    noop_rerun_jobs: int | None = None
    touched_rerun_s: float | str | None = None  # one input's mtime bumped, content the same
    touched_rerun_jobs: int | None = None
    changed_rerun_s: float | str | None = None  # one input's content changed
    changed_rerun_jobs: int | None = None
    peak_mib: float = 0.0  # largest resident set of any snakemake call (or its children)
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
    (folder / "chunk.py").write_text(CHUNK_SCRIPT)
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


def touch_one(folder: Path, ids: list[str], content: bool) -> None:
    """Make the middle video's input newer than everything made from it; with ``content``,
    change what it holds too."""
    path = folder / "videos" / f"{ids[len(ids) // 2]}.txt"
    if content:
        path.write_text(path.read_text() + "changed\n")
    later = time.time() + 1
    os.utime(path, (later, later))


def bench(size: int, way: str, chunks: int, timeout: float) -> Result:
    """Time the steps of one way at one size in a fresh temporary folder; a step past the
    timeout ends the others."""
    k = math.ceil(size / chunks) if way == "group" else None
    extra = ["--group-components", f"stage={k}"] if k else []
    result = Result(size, way, k)
    ids = video_ids(size)
    folder = Path(tempfile.mkdtemp(prefix=f"group_vs_chunks-{way}-{size}-"))

    def step(name: str, args: list[str]) -> str | None:
        """Run one step, record its time, peak memory and job count; what it printed."""
        call = snakemake(folder, extra, args, timeout)
        result.peak_mib = round(max(result.peak_mib, call.max_rss_mib), 1)
        if call.timed_out:
            setattr(result, f"{name}_s", f"timed out after {timeout:g} s")
            done = re.findall(r"^(\d+ of \d+ steps \(\S+\) done)", call.printed, re.M)
            progress = f" ({done[-1]})" if done else ""
            result.notes.append(f"{name} timed out{progress}; later steps skipped")
            return None
        setattr(result, f"{name}_s", round(call.seconds, 2))
        if hasattr(result, f"{name}_jobs"):
            setattr(result, f"{name}_jobs", job_total(call.printed))
        return call.printed

    try:
        make_workflow(folder, way, ids, chunks)
        printed = step("dry_run", ["-n"])
        if printed is None:
            return result
        result.dag_jobs = job_total(printed)
        result.group_jobs = group_job_count(printed) if k else None
        printed = step("first_run", [])
        if printed is None:
            return result
        if k and "Group job" not in printed:
            result.notes.append("first run: no group job, each job ran on its own (local run)")
        if step("noop_rerun", []) is None:
            return result
        touch_one(folder, ids, content=False)
        if step("touched_rerun", []) is None:
            return result
        touch_one(folder, ids, content=True)
        step("changed_rerun", [])
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
    columns = {
        "N": lambda r: r.size,
        "way": lambda r: (
            r.way if r.group_components is None else f"group, stage={r.group_components}"
        ),
        "jobs in DAG": lambda r: r.dag_jobs,
        "group jobs (dry run)": lambda r: r.group_jobs,
        "dry run s": lambda r: r.dry_run_s,
        "first run s": lambda r: r.first_run_s,
        "no-op rerun s": lambda r: r.noop_rerun_s,
        "touched-only rerun s (jobs)": lambda r: with_jobs(r.touched_rerun_s, r.touched_rerun_jobs),
        "one-changed rerun s": lambda r: r.changed_rerun_s,
        "jobs it ran": lambda r: r.changed_rerun_jobs,
        "peak MiB": lambda r: round(r.peak_mib),
    }
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for r in results:
        lines.append("| " + " | ".join(cell(get(r)) for get in columns.values()) + " |")
    notes = [f"- N={r.size} {r.way}: {note}" for r in results for note in r.notes]
    return "\n".join(lines + ([""] + notes if notes else []))


def with_jobs(seconds: float | str | None, jobs: int | None) -> str:
    return cell(seconds) if jobs is None else f"{cell(seconds)} ({jobs})"


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
