"""Comparing a dataset's runs (iquery/model/comparison.py, iquery/cli/compare.py): the same pairs
for every row, intervals over test videos and seeds, paired differences, and refusals."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from iquery.cli import compare as compare_cli
from iquery.model.metrics import summarise, write_metrics, write_per_pair
from iquery.pipeline.core.files import write_json
from iquery.pipeline.core.layout import RunFolder

PROV = {"config_hash": "c0ffee", "code_version": "test", "packages": {"numpy": "x"}}
CLASSES = ("cello", "flute", "violin")


def pair_names(n: int) -> list[dict]:
    """Pairs over 3 classes of 8 videos each: every video in several pairs, as in a real test
    set (the intervals draw the videos again)."""
    names = []
    for i in range(n):
        a, b = CLASSES[i % 3], CLASSES[(i + 1) % 3]
        names.append(
            {"class_a": a, "vid_a": f"{a}-{i % 8}", "class_b": b, "vid_b": f"{b}-{(i // 3) % 7}"}
        )
    return names


def write_run(folder, *, seed, variant, model_sdr, mixture_sdr, skipped=()):
    """A run folder as training and evaluation leave it, with the given per-pair SDRs (the
    other figures follow from them)."""
    run = RunFolder(str(folder))
    rows = []
    names_of = pair_names(len(model_sdr))
    for i, (names, sdr, mix) in enumerate(zip(names_of, model_sdr, mixture_sdr, strict=True)):
        row = {"pair": i, **names, "skipped": i in skipped}
        for method, value in (("model", sdr), ("mixture", mix), ("irm", mix + 15.0)):
            value = math.nan if i in skipped else value
            row |= {f"{method}_sdr": value, f"{method}_sir": value + 2, f"{method}_sar": 20.0}
            row |= {f"{method}_sdr_a": value + 0.5, f"{method}_sdr_b": value - 0.5}
        rows.append(row)
    write_per_pair(run.per_pair, rows, PROV)
    result = summarise(rows, ("model", "mixture", "irm"))
    write_metrics(run.metrics, result, PROV, variant=variant, label=variant, selection="val")
    write_json(run.summary, {"variant": variant, "config": {"seed": seed}})
    return run


@pytest.fixture
def runs(tmp_path):
    """iquery and nomotion, two seeds each, on 120 pairs: iquery 0.5 dB above nomotion on
    every pair, nomotion 6 dB above the mixture; seed 1235 lands 0.3 dB above seed 1234."""
    rng = np.random.default_rng(0)
    mixture = rng.normal(0.5, 3.0, size=120)
    hardness = rng.permutation(np.linspace(-5.0, 5.0, 120))  # mean 0: some pairs are hard
    folders = {"iquery": [], "nomotion": []}
    for k, seed in enumerate((1234, 1235)):
        base = mixture + 6.0 + hardness + 0.3 * k
        for name, offset in (("iquery", 0.5), ("nomotion", 0.0)):
            noise = rng.normal(0, 0.2, size=120)
            folder = tmp_path / "demo" / name / f"seed-{seed}"
            write_run(
                folder, seed=seed, variant=name, model_sdr=base + offset + noise,
                mixture_sdr=mixture, skipped={7} if (name, seed) == ("nomotion", 1235) else (),
            )  # fmt: skip
            folders[name].append(str(folder))
    return folders


def test_metrics_carry_intervals_and_the_gain_over_the_mixture(tmp_path):
    run = write_run(
        tmp_path / "run", seed=1, variant="iquery",
        model_sdr=np.linspace(4, 12, 50), mixture_sdr=np.zeros(50),
    )  # fmt: skip
    metrics = json.loads(open(run.metrics).read())
    model = metrics["methods"]["model"]
    low, high = model["sdr_interval"]
    assert model["sdr"] == pytest.approx(8.0)
    assert low < 8.0 < high and high - low < 4.0
    # The interval over pairs only is kept, labelled: it does not draw the videos again.
    pairs_low, pairs_high = model["sdr_interval_pairs_only"]
    assert pairs_low < 8.0 < pairs_high
    gain = metrics["differences"]["model-mixture_sdr"]
    assert gain["mean"] == pytest.approx(8.0) and gain["wins_a"] == 50 and gain["resolved"]
    assert gain["over"] == "test videos" and gain["videos"] == metrics["test_videos"]
    assert metrics["bootstrap"] == {
        "over": "test videos", "draws": 10000, "level": 0.95, "seed": 0
    }  # fmt: skip


def test_comparison_over_seeds_and_pairs(runs, tmp_path):
    out = tmp_path / "comparison.json"
    argv = ["--out", str(out)]
    for name, folders in runs.items():
        argv += ["--run", name, *folders]
    result = compare_cli.main(argv)
    assert json.loads(out.read_text())["seeds"] == [1234, 1235]
    # Pair 7 was skipped by one seed of one run: every row leaves it out.
    assert result["pairs"] == {"listed": 120, "compared": 119}
    assert result["bootstrap"]["over"] == "test videos and training seeds"
    assert result["test_videos"]["count"] == 3 * 8 and result["test_videos"]["per_class"] == {
        "cello": 8, "flute": 8, "violin": 8
    }  # fmt: skip
    methods = {m["name"]: m for m in result["methods"]}
    assert list(methods) == ["iquery", "nomotion", "mixture", "irm"]
    iquery = methods["iquery"]["sdr"]
    assert iquery["low"] < iquery["mean"] < iquery["high"]
    assert iquery["per_seed"][1] - iquery["per_seed"][0] == pytest.approx(0.3, abs=0.1)
    assert methods["mixture"]["sdr"]["per_seed"] and methods["mixture"]["kind"] == "reference"
    # Per class: every source of that class, with an interval over its videos, and whether
    # the class's own videos rank the models.
    cello = methods["iquery"]["per_class"]["cello"]
    assert cello["low"] < cello["mean"] < cello["high"] and cello["sources"] > 40
    assert cello["videos"] == 8 and cello["pairs_only"]["low"] < cello["mean"]
    ranked = result["per_class_differences"]["cello"]
    assert ranked["videos"] == 8 and len(ranked["differences"]) == 1
    assert ranked["sentence"].startswith("cello (8 test videos): iquery above nomotion by")

    differences = {(d["a"], d["b"]): d for d in result["differences"]}
    motion = differences[("iquery", "nomotion")]
    assert motion["mean"] == pytest.approx(0.5, abs=0.1) and motion["resolved"]
    assert motion["wins_a"] > 100 and motion["pairs"] == 119 and motion["seeds"] == 2
    assert (
        "resolved" in motion["sentence"]
        and "other test videos of these classes" in motion["sentence"]
    )
    assert motion["pairs_only"]["resolved"] and motion["over"] == "test videos"
    gain = differences[("nomotion", "mixture")]
    assert gain["mean"] == pytest.approx(6.15, abs=0.3) and gain["low"] > 5
    assert result["resolvable_db"] == pytest.approx(
        (motion["high"] - motion["low"]) / 2
    )  # one pair of models
    assert "code_version" in result and result["trained"]["iquery"] == ["c0ffee", "c0ffee"]


def test_comparison_refuses_runs_scored_on_other_clips(runs, tmp_path):
    other = tmp_path / "other" / "seed-1234"
    write_run(other, seed=1234, variant="sop", model_sdr=np.ones(120), mixture_sdr=np.zeros(120))
    argv = ["--out", str(tmp_path / "c.json"), "--run", "iquery", runs["iquery"][0]]
    with pytest.raises(SystemExit, match="other test clips"):
        compare_cli.main([*argv, "--run", "sop", str(other)])
    with pytest.raises(SystemExit, match="different numbers of seeds"):
        compare_cli.main([*argv, "--run", "nomotion", *runs["nomotion"]])


def test_comparison_names_a_run_not_evaluated(tmp_path):
    bare = tmp_path / "bare"
    bare.mkdir()
    with pytest.raises(SystemExit, match="evaluate the run first"):
        compare_cli.main(["--out", str(tmp_path / "c.json"), "--run", "iquery", str(bare)])


def test_a_difference_resolved_over_pairs_alone_is_not_called_resolved(tmp_path):
    # No motion is 0.4 dB below iQuery on average, but by how much depends on the video (a
    # video where motion helps helps in every pair it is in). Over the pairs the difference
    # looks resolved; over the videos it is not, and the comparison says so.
    rng = np.random.default_rng(4)
    names = pair_names(120)
    videos = sorted(
        {(r["class_a"], r["vid_a"]) for r in names} | {(r["class_b"], r["vid_b"]) for r in names}
    )
    gain = {v: rng.normal(0.4, 1.5) for v in videos}
    mixture = rng.normal(0.5, 3.0, size=120)
    iquery = mixture + 7.0 + rng.normal(0, 1.0, size=120)
    nomotion = iquery - np.array(
        [(gain[(r["class_a"], r["vid_a"])] + gain[(r["class_b"], r["vid_b"])]) / 2 for r in names]
    )
    folders = []
    for name, values in (("iquery", iquery), ("nomotion", nomotion)):
        write_run(tmp_path / name, seed=1234, variant=name, model_sdr=values, mixture_sdr=mixture)
        folders += ["--run", name, str(tmp_path / name)]
    result = compare_cli.main(["--out", str(tmp_path / "c.json"), *folders])
    motion = result["differences"][0]
    assert motion["pairs_only"]["resolved"] and not motion["resolved"]
    assert motion["high"] - motion["low"] > 1.5 * (
        motion["pairs_only"]["high"] - motion["pairs_only"]["low"]
    )
    assert "cannot tell the two apart" in motion["sentence"]
    assert "24 test videos" in motion["sentence"]
