"""How long Snakemake takes to plan the real datasets, beside its own floor on a one-rule DAG.

    python bench/dag_speed.py --lists FOLDER [--datasets music21 ave] [--repeat 3]

FOLDER holds the published index files under their published names (MUSIC21_solo_videos.json,
Annotations.txt, trainmusic21.csv, testsepave.csv, ...; found anywhere below it): each dataset
is pointed at its local copies, as a user without network would. For each dataset, in a
throwaway working folder, it times the dry run (`snakemake -n evaluate_<name>`) and the
no-op rerun in four states:

- fresh: nothing made yet (the index files are read, the index is not written);
- indexed: the index written, nothing downloaded (the DAG stops at the splits checkpoint);
- planned: every video through download, audio and frames, the manifest and the splits made
  by the real rules; the dry run lists everything still to do (detection to evaluation);
- done: every job's output there (the per-video results and the chunk tables written as the
  stages write them, empty stand-ins for shards, checkpoints and metrics, then `--touch`):
  the dry run and the real rerun both have nothing to do.

No video is downloaded or decoded: the states are what the workflow would see, so the figures
are Snakemake's planning alone. Figures are printed, not checked.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from iquery.pipeline.core.files import read_tsv, write_json  # noqa: E402
from iquery.pipeline.core.layout import SPLITS, Layout  # noqa: E402
from iquery.pipeline.core.records import OK  # noqa: E402
from iquery.pipeline.stages.batches import deal  # noqa: E402

FLOOR_SNAKEFILE = """rule one:
    output:
        "one.txt"
    shell:
        "touch {output}"
"""


def snakemake(workdir: Path, *args: str, configs: tuple[Path, ...] = ()) -> tuple[float, str]:
    """Seconds one Snakemake run took, and what it printed; a failure stops the bench."""
    cmd = [sys.executable, "-m", "snakemake", "--directory", str(workdir), "--cores", "2"]
    if configs:
        cmd += ["-s", str(REPO / "Snakefile"), *args, "--configfile"]
        cmd += [str(REPO / "config.yaml"), *map(str, configs)]
    else:
        cmd += ["-s", str(workdir / "Snakefile"), *args]
    start = time.perf_counter()
    result = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}")
    return seconds, result.stdout + result.stderr


def timed(repeat: int, *args, **kwargs) -> tuple[list[float], str]:
    runs = [snakemake(*args, **kwargs) for _ in range(repeat)]
    return [s for s, _ in runs], runs[-1][1]


def job_count(printed: str) -> int:
    """Jobs a dry run would run (its 'total' row), 0 when it has nothing to do."""
    match = re.search(r"^total\s+(\d+)", printed, re.M)
    return int(match[1]) if match else 0


def jobs_by_rule(printed: str) -> dict[str, int]:
    """The dry run's job-stats table: rule -> jobs."""
    table = printed[printed.find("Job stats:") :].split("\n\n")[0]
    rows = re.findall(r"^(\w+)\s+(\d+)$", table, re.M)
    return {rule: int(n) for rule, n in rows if rule != "total"}


def local_lists(folder: Path, name: str) -> dict:
    """The dataset's config with every index URL replaced by the file of the same name."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())["datasets"][name]
    found = {p.name: p for p in folder.rglob("*") if p.is_file()}

    def local(url: str) -> str:
        file = url.rsplit("/", 1)[-1]
        if file not in found:
            sys.exit(f"{folder}: no {file} (config datasets.{name}: {url})")
        return str(found[file].resolve())

    return {
        "index": {k: local(v) for k, v in config["index"].items()},
        "splits": {k: local(v) for k, v in config["splits"].items()},
    }


def write_tables(layout: Layout, name: str, stage: str, videos: list[dict], chunks: int) -> None:
    """The stage's chunk tables with every video done, and each video's file (empty)."""
    files = {
        "audio": layout.audio,
        "frames": layout.frames,
        "detect": layout.detections,
        "motion": layout.motion,
    }
    info = {
        "download": {"source": "downloaded"},
        "audio": {"seconds": 60.0, "samples": 60 * 11025, "audio_rate": 11025},
        "frames": {"count": 60, "frame_rate": 1},
        "detect": {"boxes": 60},
        "motion": {},
    }[stage]
    for k, group in enumerate(deal(videos, chunks)):
        records = []
        for row in group:
            cls, vid = row["class"], row["vid"]
            if stage in files:
                path = Path(files[stage](name, cls, vid))
                path.parent.mkdir(parents=True, exist_ok=True)
                path.mkdir() if stage == "frames" else path.touch()
            record = {"stage": stage, "class": cls, "vid": vid, "status": OK, "reason": ""}
            records.append({**record, "made_from": {}, "info": info})
        write_json(layout.chunk_table(name, stage, k), {"stage": stage, "records": records})


def measure(state: str, workdir: Path, name: str, configs, repeat: int, rerun: bool) -> dict:
    target = f"evaluate_{name}"
    dry, printed = timed(repeat, workdir, "-n", target, configs=configs)
    row = {"dataset": name, "state": state, "jobs": job_count(printed), "dry_run": dry}
    row["by_rule"] = jobs_by_rule(printed)
    if rerun:
        row["rerun"], printed = timed(repeat, workdir, target, configs=configs)
        if "Nothing to be done" not in printed:
            sys.exit(f"{name}: the rerun of a finished run did something:\n{printed[-3000:]}")
    return row


def bench_dataset(folder: Path, name: str, root: Path, repeat: int) -> list[dict]:
    workdir = root / name
    workdir.mkdir()
    layout = Layout("data", "results")
    overlay = {"dataset": name, "offline": True, "datasets": {name: local_lists(folder, name)}}
    (workdir / "overlay.yaml").write_text(yaml.safe_dump(overlay))
    configs = (workdir / "overlay.yaml",)
    settings = yaml.safe_load((REPO / "config.yaml").read_text())
    rows = [measure("fresh", workdir, name, configs, repeat, rerun=False)]

    snakemake(workdir, layout.videos_table(name), configs=configs)
    rows.append(measure("indexed", workdir, name, configs, repeat, rerun=False))

    os.chdir(workdir)
    videos = read_tsv(layout.videos_table(name))
    for stage in ("download", "audio", "frames"):
        write_tables(layout, name, stage, videos, settings[stage]["chunks"])
    snakemake(workdir, layout.splits_summary(name), configs=configs)
    rows.append(measure("planned", workdir, name, configs, repeat, rerun=False))

    # Everything after the splits: the feature stages as their jobs write them, then empty
    # stand-ins for every other output the dry run lists, put in order by --touch.
    used = {(r["class"], r["vid"]) for s in SPLITS for r in read_tsv(layout.split(name, s))}
    used_rows = [{"class": c, "vid": v} for c, v in sorted(used)]
    features = ["detect"] + (["motion"] if settings["datasets"][name]["motion"] else [])
    for stage in features:
        write_tables(layout, name, stage, used_rows, settings[stage]["chunks"])
    _, printed = snakemake(workdir, "-n", f"evaluate_{name}", configs=configs)
    for line in re.findall(r"^\s+output: (.+)$", printed, re.M):
        for output in line.split(", "):
            path = workdir / output
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
    snakemake(workdir, "--touch", f"evaluate_{name}", configs=configs)
    rows.append(measure("done", workdir, name, configs, repeat, rerun=True))
    os.chdir(REPO)
    return rows


def bench_floor(root: Path, repeat: int) -> dict:
    workdir = root / "floor"
    workdir.mkdir()
    (workdir / "Snakefile").write_text(FLOOR_SNAKEFILE)
    dry, printed = timed(repeat, workdir, "-n")
    row = {"dataset": "one rule", "state": "fresh", "jobs": job_count(printed), "dry_run": dry}
    snakemake(workdir)
    row["rerun"], _ = timed(repeat, workdir)
    return row


def seconds(runs: list[float] | None) -> str:
    if not runs:
        return "-"
    return f"{statistics.median(runs):6.2f} (min {min(runs):.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lists", type=Path, required=True, help="folder of the index files")
    parser.add_argument("--datasets", nargs="+", default=["music21", "ave"])
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (median shown)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        rows.append(bench_floor(Path(tmp), args.repeat))
        for name in args.datasets:
            rows += bench_dataset(args.lists.resolve(), name, Path(tmp), args.repeat)
    print(f"\nSnakemake's planning time, seconds (median of {args.repeat}; 2 cores)\n")
    print(f"{'dataset':<10} {'state':<8} {'jobs':>6}  {'dry run (-n)':<22} {'rerun (no-op)':<22}")
    for row in rows:
        print(
            f"{row['dataset']:<10} {row['state']:<8} {row['jobs']:>6}  "
            f"{seconds(row['dry_run']):<22} {seconds(row.get('rerun')):<22}"
        )
    print("\njobs by rule (dry run):")
    for row in rows:
        if row.get("by_rule"):
            rules = ", ".join(f"{rule} {n}" for rule, n in sorted(row["by_rule"].items()))
            print(f"  {row['dataset']} {row['state']}: {rules}")
    if args.json:
        write_json(args.json, rows)


if __name__ == "__main__":
    main()
