"""The HTML report: built from real (tiny) trained and evaluated runs, then opened from disk in a
headless Chromium, which must decode every figure and every sound."""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from pipeline.layout import RunFolder
from tests.test_training import PAIRS, data, shards, train_args  # noqa: F401 (data: a fixture)
from workflow_scripts import evaluate as evaluate_cli
from workflow_scripts import make_report as report_cli
from workflow_scripts import train as train_cli

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


@pytest.fixture(scope="module")
def runs(data, tmp_path_factory) -> dict[str, Path]:  # noqa: F811 (fixture argument)
    """iQuery and the SoP baseline, two epochs each, evaluated with 2 examples."""
    root = tmp_path_factory.mktemp("results") / "demo"
    out = {}
    for variant in ("iquery", "sop"):
        folder = root / variant
        run = RunFolder(str(folder))
        train_cli.main(train_args(data, folder, variant=variant, epochs=2, num_workers=0))
        evaluate_cli.main(
            ["--summary", run.summary, "--shards", str(shards(data, "test"))]
            + ["--pairs", data.test_pairs("demo"), "--metrics", run.metrics]
            + ["--per-pair", run.per_pair, "--examples", run.examples, "--examples-count", "2"]
        )
        out[variant] = folder
    return out


def test_examples_hold_what_the_report_shows(runs):
    per_pair = (runs["iquery"] / "per_pair.tsv").read_text().splitlines()
    rows = list(csv.DictReader((r for r in per_pair if not r.startswith("#")), delimiter="\t"))
    ranked = sorted(range(len(rows)), key=lambda i: float(rows[i]["model_sdr"]))
    with np.load(runs["iquery"] / "examples.npz") as examples:
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
def report_page(runs) -> Path:
    """The iQuery run's report, comparing it with SoP."""
    out = runs["iquery"].parent / "report.html"
    return report_cli.main(
        ["--run", str(runs["iquery"]), "--compare", str(runs["sop"]), "--out", str(out)]
    )


def test_report_compares_runs_and_embeds_everything(runs, report_page):
    page = report_page.read_text()
    metrics = json.loads((runs["iquery"] / "metrics.json").read_text())
    sop = json.loads((runs["sop"] / "metrics.json").read_text())
    # The table: both models, the mixture and the IRM, with the numbers of metrics.json.
    for label, value in (
        ("iQuery (iquery)", metrics["methods"]["model"]["sdr"]),
        ("Sound-of-Pixels (sop)", sop["methods"]["model"]["sdr"]),
        ("unprocessed mixture", metrics["methods"]["mixture"]["sdr"]),
        ("ideal ratio mask", metrics["methods"]["irm"]["sdr"]),
    ):
        assert re.search(rf"<td>{re.escape(label)}</td><td>{value:.2f}</td>", page), label
    assert metrics["config_hash"] in page and metrics["code_version"] in page
    # Per class: the mixture's and the ideal mask's figures beside each run's.
    from pipeline.report import per_class_sdr, read_run

    main = read_run(runs["iquery"])
    mixture = per_class_sdr(main, "mixture")
    assert '<table class="per-class">' in page and len(mixture) == 3
    for cls, value in mixture.items():
        irm = per_class_sdr(main, "irm")[cls]
        assert re.search(rf"<td>{cls}</td><td>{value:.2f}</td><td>{irm:.2f}</td>", page), cls
    # The curves' x-axes: batches and wall time, logged with every validation.
    last = main.history[-1]
    assert last["progress/batches"] > 0 and last["progress/train_seconds"] > 0
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
    # Three figures (per-class SDR, curves, one per example) and five sounds per example.
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


def test_report_names_a_missing_evaluation(runs, tmp_path):
    bare = tmp_path / "bare"
    bare.mkdir()
    with pytest.raises(SystemExit, match=r"per_pair.tsv.*evaluate first"):
        report_cli.main(["--run", str(bare), "--out", str(bare / "report.html")])
