"""How the code is laid out, at two revisions side by side: the longest functions, and in how
many files each artifact's path is spelled (string literals in code; docstrings and comments
left out; tests and benchmarks left out).

    .venv/bin/python bench/house_figures.py                 # the working tree alone
    .venv/bin/python bench/house_figures.py --against REV   # a git revision beside it

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
SKIP = ("tests/", "bench/", ".venv/")
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

    print("Longest functions (lines)")
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
