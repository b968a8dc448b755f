"""The HTML report: built from real (tiny) trained and evaluated runs, then opened from disk in a
headless Chromium, which must decode every figure and every sound."""

from __future__ import annotations

import csv
import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from iquery.cli import compare as compare_cli
from iquery.cli import evaluate as evaluate_cli
from iquery.cli import make_report as report_cli
from iquery.cli import train as train_cli
from iquery.pipeline.core.layout import RunFolder
from iquery.pipeline.datasets.splits import write_pairs
from tests.test_training import shards, train_args

pytestmark = pytest.mark.filterwarnings("ignore:.*module\\(s\\) in eval mode")

BROWSER_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]


SEEDS = (1234, 1235)
# Every pair of the tiny dataset's test videos of different classes (2 a class): each video in
# four pairs, so that the intervals can draw the videos again.
VIDEOS = [(c, f"{c}-{k}") for c in ("cello", "flute", "violin") for k in (0, 1)]
PAIRS = [(*a, *b) for i, a in enumerate(VIDEOS) for b in VIDEOS[i + 1 :] if a[0] != b[0]]


@pytest.fixture(scope="module")
def runs(data, tmp_path_factory) -> dict[str, list[Path]]:
    """iQuery and the SoP baseline, two seeds each, two epochs, evaluated with 2 examples."""
    root = tmp_path_factory.mktemp("results") / "demo"
    pairs = root / "test_pairs.tsv"
    write_pairs(pairs, [((a, b), (c, d)) for a, b, c, d in PAIRS])
    out = {}
    for variant in ("iquery", "sop"):
        out[variant] = []
        for seed in SEEDS:
            folder = root / variant / f"seed-{seed}"
            run = RunFolder(str(folder))
            train_cli.main(
                train_args(data, folder, variant=variant, epochs=2, num_workers=0, seed=seed)
            )
            evaluate_cli.main(
                ["--summary", run.summary, "--shards", str(shards(data, "test"))]
                + ["--pairs", str(pairs), "--metrics", run.metrics]
                + ["--per-pair", run.per_pair, "--examples", run.examples]
                + ["--examples-count", "2"]
            )
            out[variant].append(folder)
    return out


def test_examples_hold_what_the_report_shows(runs):
    per_pair = (runs["iquery"][0] / "per_pair.tsv").read_text().splitlines()
    rows = list(csv.DictReader((r for r in per_pair if not r.startswith("#")), delimiter="\t"))
    ranked = sorted(range(len(rows)), key=lambda i: float(rows[i]["model_sdr"]))
    with np.load(runs["iquery"][0] / "examples.npz") as examples:
        # The pairs at a quarter and three quarters of the model's SDR, lowest first.
        n = len(ranked)
        assert list(examples["pair"]) == [ranked[n // 4], ranked[3 * n // 4]]
        assert list(examples["percentile"]) == pytest.approx(
            [100 * (n // 4) / n, 100 * (3 * n // 4) / n]
        )
        assert list(examples["model_sdr"]) == pytest.approx(  # the table rounds
            [float(rows[i]["model_sdr"]) for i in examples["pair"]], abs=1e-3
        )
        assert examples["pred_masks"].shape == examples["gt_masks"].shape
        assert examples["pred_masks"].shape[:3] == (2, 2, 256)
        assert examples["estimates"].shape == examples["references"].shape
        assert examples["mixture"].shape[-1] == examples["references"].shape[-1]
        assert int(examples["audio_rate"]) == 11025
        first = int(examples["pair"][0])
        assert [str(v) for v in examples["names"][0]] == list(PAIRS[first])


@pytest.fixture(scope="module")
def comparison(runs) -> Path:
    out = runs["iquery"][0].parent.parent / "comparison.json"
    argv = ["--out", str(out)]
    for name, folders in runs.items():
        argv += ["--run", name, *map(str, folders)]
    compare_cli.main(argv)
    return out


@pytest.fixture(scope="module")
def report_page(comparison) -> Path:
    """The page comparing iQuery with SoP over both seeds."""
    return report_cli.main(
        ["--comparison", str(comparison), "--out", str(comparison.parent / "report.html")]
    )


def test_report_shows_the_comparison_with_intervals(runs, comparison, report_page):
    page = report_page.read_text()
    result = json.loads(comparison.read_text())
    methods = {m["name"]: m for m in result["methods"]}
    # The results table: both models over their seeds, the mixture and the IRM, each SDR with
    # its interval, and the spread over seeds for the models.
    for name, label in (
        ("iquery", "iQuery (iquery)"),
        ("sop", "Sound-of-Pixels (sop)"),
        ("mixture", "unprocessed mixture"),
        ("irm", "ideal ratio mask"),
    ):
        sdr = methods[name]["sdr"]
        shown = (
            f"<td>{label}</td><td>{sdr['mean']:.2f} <span class='interval'>"
            f"[{sdr['low']:.2f}, {sdr['high']:.2f}]</span></td>"
        )
        assert shown in page, label
    spread = methods["iquery"]["sdr"]
    assert f"{spread['seed_sd']:.2f} <span class='interval'>(" in page
    # The paired differences, each with its verdict in plain words.
    # Their intervals draw the test videos again; the one over pairs only is beside them, named
    # for what it is, and decides nothing.
    head = (
        "<th>difference (SDR)</th><th>mean</th><th>95 % interval over test videos and "
        "training seeds</th><th>over pairs only (these videos)</th>"
    )
    assert '<table class="differences">' in page and head in page
    for entry in result["differences"]:
        assert html.escape(entry["sentence"]) in page
        pairs_only = entry["pairs_only"]
        assert f"[{pairs_only['low']:+.2f}, {pairs_only['high']:+.2f}]" in page
    assert "2 training seeds" in page and "bootstrap over the" in page
    assert f"{result['test_videos']['count']} test videos" in page
    # Per class: how many test videos each class has, and whether they rank the methods.
    for verdict in result["per_class_differences"].values():
        assert html.escape(verdict["sentence"]) in page
    # The motion features came from a random I3D: the page says what that lets a motion
    # ablation show.
    assert "I3D network with random weights" in page
    # Per class: the mixture's and the ideal mask's figures beside each run's, with intervals.
    assert '<table class="per-class">' in page
    for cls, entry in methods["mixture"]["per_class"].items():
        videos = entry["videos"]
        assert (
            f"<td>{cls}</td><td>{videos}</td><td>{entry['mean']:.2f} <span class='interval'>"
            in page
        )
    # The curves' x-axes: batches and wall time, logged with every validation.
    from iquery.pipeline.report.report import read_run

    last = read_run(runs["iquery"][0]).history[-1]
    assert last["progress/batches"] > 0 and last["progress/train_seconds"] > 0
    # Provenance: every seed of every run, with the machine it trained on.
    for name in ("iquery", "sop"):
        for seed in SEEDS:
            assert f"<h3>{name}, seed {seed}</h3>" in page
    metrics = json.loads((runs["iquery"][0] / "metrics.json").read_text())
    assert metrics["config_hash"] in page and metrics["code_version"] in page
    # Self-contained: nothing is fetched from anywhere.
    assert not re.search(r"""(src|href)=["'](?!data:)""", page)
    assert page.count("<audio") == 2 * 5  # mixture, 2 estimates, 2 truths per example


def test_report_opens_in_a_headless_browser(report_page, tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.fail("chromium not found: run ./setup.sh --test, which installs Debian's chromium")

    profile = tmp_path / "profile"
    result = subprocess.run(
        [
            browser,
            *BROWSER_FLAGS,
            f"--user-data-dir={profile}",
            "--virtual-time-budget=15000",
            "--dump-dom",
            report_page.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    match = re.search(r'data-check="([^"]*)"', result.stdout)
    assert match, f"the page's check never ran:\n{result.stderr[-2000:]}"
    check = json.loads(match.group(1).replace("&quot;", '"'))
    # Four images (the per-class SDR, the curves, one for each of the two examples) and five
    # sounds for each example.
    assert check == {"images": 4, "broken_images": 0, "sounds": 10, "playable_sounds": 10}
    shot = tmp_path / "shot.png"
    subprocess.run(
        [
            browser,
            *BROWSER_FLAGS,
            f"--user-data-dir={profile}",
            f"--screenshot={shot}",
            "--window-size=1200,900",
            report_page.resolve().as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=True,
    )
    from PIL import Image

    pixels = np.asarray(Image.open(shot).convert("L"), dtype=np.float32)
    assert pixels.std() > 10  # text, table and figures drawn, not a blank page


def test_report_names_a_missing_comparison(tmp_path):
    with pytest.raises(SystemExit, match=r"comparison.json.*iquery.cli.compare first"):
        report_cli.main(
            ["--comparison", str(tmp_path / "comparison.json"), "--out", str(tmp_path / "r.html")]
        )


def test_the_report_names_the_motion_weights_the_runs_used():
    from types import SimpleNamespace

    from iquery.pipeline.report.report import motion_note

    def runs(data):
        return {"iquery": [SimpleNamespace(variant="iquery", summary={"data": data})]}

    learned = {
        "motion_weights": "ab" * 32,
        "motion_weights_file": "data/demo/motion_encoder/i3d.pt",
    }
    assert "learned on this dataset's own training videos" in motion_note(runs(learned))
    assert "abababababab" in motion_note(runs(learned))
    assert "random weights" in motion_note(runs({"motion_weights": "random"}))
    fame = {"motion_weights": "cd" * 32, "motion_weights_file": "weights/I3D_pretrained.pth.tar"}
    assert "I3D weights in I3D_pretrained.pth.tar (sha256 cdcdcdcdcdcd)" in motion_note(runs(fame))
