"""How the code is laid out, at two revisions side by side: the size of the rules' shared file,
the lines each per-video stage owns, how many files a stage setting passes through, the longest
functions, and in how many files each artifact's path is spelled (string literals in code;
docstrings and comments left out; tests, benchmarks and tools left out).

    .venv/bin/python tools/house_figures.py                 # the working tree alone
    .venv/bin/python tools/house_figures.py --against REV   # a git revision beside it

A path counts as spelled where a literal names its folder or file pattern (``"audio/{cls}"``,
``"detection_results"``, ``"train_summary.json"``) or a bare folder name joined with ``/``.
"""

from __future__ import annotations

import argparse
import ast
import io
import re
import subprocess
import tokenize
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SKIP = ("tests/", "bench/", "tools/", ".venv/")
ARTIFACTS = {
    "videos/{cls}/{vid}.mp4": r"videos/\{\{?cls|^\"videos\"$",
    "audio/{cls}/{vid}.wav": r"\{vid\}\}?\.wav|audio/\{\{?cls",
    "frames/{cls}/{vid}.mp4/": r"frames/\{\{?cls|^\"frames\"$",
    "records/{stage}/{cls}/{vid}.json": r"records",
    "detection_results/...": r"detection_results",
    "motion_features/...": r"motion_features",
    "manifest.tsv, excluded.tsv": r"manifest\.tsv|excluded\.tsv",
    "splits/{split}.tsv": r"splits/|^\"splits\"$",
    "test_pairs.tsv": r"test_pairs\.tsv",
    "shards/...": r"shards/|^\"shards\"$|:03d\}\.h5|\{split\}\.json|\{select_on\}\.json",
    "index.json, videos.tsv": r"index\.json|videos\.tsv",
    "demo source/, boxes/": r"source/|^\"source\"$|^\"boxes\"$|boxes/",
    "run: train_summary.json": r"train_summary\.json",
    "run: metrics, per_pair, examples": r"metrics\.json|per_pair\.tsv|examples\.npz",
    "run: checkpoints/": r"checkpoints|last\.ckpt",
    "report.html": r"report\.html",
    "weights/": r"weights/",
    "logs/": r"logs/|^\"logs\"$",
}


def files_at(rev: str | None) -> dict[str, str]:
    """Source files (Python, Snakemake) and their text, at ``rev`` or in the working tree."""
    if rev is None:
        paths = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
            cwd=REPO, capture_output=True, text=True, check=True,
        ).stdout.split()  # fmt: skip
        read = lambda p: (REPO / p).read_text() if (REPO / p).is_file() else None  # noqa: E731
    else:
        paths = subprocess.run(
            ["git", "ls-tree", "-r", "--name-only", rev],
            cwd=REPO, capture_output=True, text=True, check=True,
        ).stdout.split()  # fmt: skip

        def read(p: str) -> str:
            show = ["git", "show", f"{rev}:{p}"]
            return subprocess.run(show, cwd=REPO, capture_output=True, text=True).stdout

    wanted = [
        p
        for p in paths
        if (p.endswith((".py", ".smk")) or p == "Snakefile") and not p.startswith(SKIP)
    ]
    return {p: text for p in wanted if (text := read(p)) is not None}


# What a per-video stage owns, in either layout: whole files, top-level functions ("fn:"), and
# rule blocks ("rule:"). Before the stage framework a stage had its rule file, its CLI, its
# steps function and its option builders in rules/common.smk; after, its module and a use rule.
STAGE_PARTS = {
    "download": [
        "rule:download", "workflow_scripts/download.py", "iquery/cli/download.py",
        "fn:download_steps", "fn:_download_work", "fn:download_options", "fn:download_inputs",
        "fn:download_tables", "iquery/pipeline/stages/download.py",
    ],
    "audio": [
        "rule:audio", "workflow_scripts/extract_audio.py", "iquery/cli/extract_audio.py",
        "fn:audio_steps", "fn:min_audio_seconds", "fn:trim_option",
        "iquery/pipeline/stages/audio.py",
    ],
    "frames": [
        "rule:frames", "workflow_scripts/extract_frames.py", "iquery/cli/extract_frames.py",
        "fn:frames_steps", "fn:_frame_size", "fn:_check_copied_features", "fn:max_side_option",
        "fn:copied_feature_options", "iquery/pipeline/stages/frames.py",
    ],
    "detect": [
        "rule:detect", "workflow_scripts/detect.py", "iquery/cli/detect.py", "fn:detect_steps",
        "fn:detect_options", "iquery/pipeline/stages/detect.py",
    ],
    "motion": [
        "rule:motion", "workflow_scripts/extract_motion.py", "iquery/cli/extract_motion.py",
        "fn:motion_steps", "fn:motion_options", "iquery/pipeline/stages/motion.py",
    ],
}  # fmt: skip
# Settings of the per-video stages followed from config to the code that uses them: the files on
# the way (the rules, the stages' commands and separate's, the stage modules) that spell the
# key, or the flag it was turned into.
FOLLOWED_KEYS = (
    "backoff_s", "socket_timeout_s", "min_seconds", "max_side", "min_frames", "owl_model",
    "threshold", "max_frames", "resize_short", "crop_side", "backbone",
)  # fmt: skip


def top_level_block(text: str, start: re.Match) -> str:
    """From a match at the start of a line to the next line that starts at column 0."""
    rest = text[start.start() :].split("\n")
    block = [rest[0]]
    for line in rest[1:]:
        if line and not line[0].isspace() and not line.startswith((")", "]", "}")):
            break
        block.append(line)
    return "\n".join(block).rstrip()


def stage_lines(files: dict[str, str]) -> dict[str, int]:
    """Lines of code each per-video stage owns (STAGE_PARTS), blank lines left out."""
    owned = {}
    for stage, parts in STAGE_PARTS.items():
        texts = []
        for part in parts:
            kind, _, name = part.partition(":")
            if not name:
                texts += [files[part]] if part in files else []
                continue
            pattern = (
                rf"^def {name}\("
                if kind == "fn"
                else rf"^(rule {name}:|use rule \w+ as {name} with:)"
            )
            for text in files.values():
                texts += [top_level_block(text, m) for m in re.finditer(pattern, text, re.M)]
        owned[stage] = sum(1 for text in texts for line in text.splitlines() if line.strip())
    return owned


ON_THE_WAY = re.compile(
    r"^(Snakefile|rules/|(workflow_scripts|iquery/cli)/(download|extract_\w+|detect|stage|separate)"
    r"\.py|(pipeline|iquery/pipeline/stages)/(video_stages|feature_stages|download|audio|frames"
    r"|detect|motion|framework|one_video)\.py)"
)


def setting_files(files: dict[str, str]) -> dict[str, int]:
    """For each followed key, the files on its way (ON_THE_WAY) that spell it (as key_name or
    --key-name, or the flag it was shortened to: --backoff, --socket-timeout)."""
    files = {path: text for path, text in files.items() if ON_THE_WAY.match(path)}
    counts = {}
    for key in FOLLOWED_KEYS:
        stem = key.removesuffix("_s")
        pattern = rf"\b({key}|{stem}|{stem.replace('_', '-')}|{key.replace('_', '-')})\b"
        counts[key] = sum(1 for text in files.values() if re.search(pattern, text))
    return counts


def longest_functions(files: dict[str, str], count: int) -> list[tuple[int, str]]:
    found = []
    for path, text in files.items():
        if not path.endswith(".py"):
            continue
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                found.append((node.end_lineno - node.lineno + 1, f"{path}:{node.name}"))
    return sorted(found, reverse=True)[:count]


def spelled_paths(files: dict[str, str]) -> dict[str, set[str]]:
    """For each artifact, the files whose string literals spell its path."""
    where = {name: set() for name in ARTIFACTS}
    for path, text in files.items():
        try:
            tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
        except (tokenize.TokenError, IndentationError):
            continue
        skip = (tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT)
        tokens = [t for t in tokens if t.type not in skip]
        for i, tok in enumerate(tokens):
            if tok.type != tokenize.STRING:
                continue
            literal = tok.string.lstrip("rbfRBF")
            if literal.startswith(('"""', "'''")):
                continue  # a docstring
            joined = (i > 0 and tokens[i - 1].string == "/") or (
                i + 1 < len(tokens) and tokens[i + 1].string == "/"
            )
            if re.fullmatch(r'"[a-z_]+"', literal) and not joined:
                continue  # a bare word (a dict key, say), not part of a path
            for name, pattern in ARTIFACTS.items():
                if re.search(pattern, literal):
                    where[name].add(path)
    return where


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--against", help="a git revision to show beside the working tree")
    parser.add_argument("--longest", type=int, default=5, help="how many functions to list")
    args = parser.parse_args()
    revisions = ([args.against] if args.against else []) + [None]
    names = [rev or "working tree" for rev in revisions]
    measured = [files_at(rev) for rev in revisions]

    width = max(14, *(len(n) for n in names))
    print(f"{'':34s} " + " ".join(f"{name:>{width}s}" for name in names))
    rules = [sum(1 for p in f if p.startswith("rules/") or p == "Snakefile") for f in measured]
    common = [len(f.get("rules/common.smk", "").splitlines()) for f in measured]
    print(f"{'rules/common.smk, lines':34s} " + " ".join(f"{n:{width}d}" for n in common))
    print(f"{'Snakefile and rule files':34s} " + " ".join(f"{n:{width}d}" for n in rules))
    print("Lines each per-video stage owns (not counting what all stages share)")
    owned = [stage_lines(files) for files in measured]
    for stage in STAGE_PARTS:
        print(f"  {stage:32s} " + " ".join(f"{o[stage]:{width}d}" for o in owned))
    print("Files on a stage setting's way from config to its use that spell it")
    followed = [setting_files(files) for files in measured]
    for key in FOLLOWED_KEYS:
        print(f"  {key:32s} " + " ".join(f"{f[key]:{width}d}" for f in followed))
    print("\nLongest functions (lines)")
    for name, files in zip(names, measured, strict=True):
        listed = ", ".join(f"{n} {where}" for n, where in longest_functions(files, args.longest))
        print(f"  {name}: {listed}")
    print("\nFiles whose code spells each artifact's path")
    spelled = [spelled_paths(files) for files in measured]
    print(f"  {'artifact':34s} " + " ".join(f"{name:>14s}" for name in names))
    for artifact in ARTIFACTS:
        counts = " ".join(f"{len(s[artifact]):14d}" for s in spelled)
        print(f"  {artifact:34s} {counts}")
    print(f"  {'(files read)':34s} " + " ".join(f"{len(f):14d}" for f in measured))
    print(f"\nWhere, in the {names[-1]}:")
    for artifact, places in spelled[-1].items():
        print(f"  {artifact}: {', '.join(sorted(places))}")


if __name__ == "__main__":
    main()
