"""Query expansion: a model trained without a class learns to separate it (its SDR rises above
the mixture's), and what stays frozen does not move by a single bit."""

import json

import pytest
import torch

from iquery.cli import evaluate as evaluate_cli
from iquery.cli import expand as expand_cli
from iquery.cli import train as train_cli
from iquery.model.evaluation import evaluate_run
from iquery.model.expansion import expand, save_expanded
from iquery.model.shard_dataset import read_shard_index
from iquery.model.system import load_system
from iquery.pipeline.core.layout import RunFolder
from tests.test_training import shards, train_args

pytestmark = pytest.mark.filterwarnings("ignore:.*module\\(s\\) in eval mode")


@pytest.fixture(scope="module")
def base_run(data, tmp_path_factory):
    """Six short epochs on cello and flute only (violin left out): enough to separate them."""
    out = tmp_path_factory.mktemp("base") / "run"
    train_cli.main(train_args(data, out, epochs=6, dup=4, exclude_classes=["violin"]))
    return RunFolder(str(out))


def changed(before: dict, after: dict) -> set[str]:
    assert before.keys() == after.keys()
    return {k for k in before if not torch.equal(before[k], after[k])}


def test_base_run_knows_only_the_classes_it_saw(base_run):
    summary = json.loads(open(base_run.summary).read())
    assert summary["data"]["classes"] == ["cello", "flute"]
    system = load_system(base_run.path + "/" + summary["best_checkpoint"])
    assert system.hparams.data_spec["classes"] == ["cello", "flute"]


@pytest.mark.parametrize("mode", ["query", "query+mask"])
def test_frozen_parameters_stay_bit_identical(data, base_run, mode):
    """Only the new query's row (and the mask head, with query+mask) may change."""
    summary = json.loads(open(base_run.summary).read())
    system = load_system(base_run.path + "/" + summary["best_checkpoint"])
    before = {k: v.clone() for k, v in system.state_dict().items()}
    refs = read_shard_index(shards(data, "train"))
    result = expand(
        system, "violin", refs, frame_rate=1, mode=mode, steps=3, batch_size=2, log=None
    )
    after = system.state_dict()
    assert system.hparams.data_spec["classes"] == ["cello", "flute", "violin"]
    table = "model.predictor.query_embed.weight"
    head = {k for k in before if k.startswith("model.predictor.mask_mlp.")}
    assert changed(before, after) == {table} | (head if mode == "query+mask" else set())
    rows = [
        i
        for i in range(after[table].shape[0])
        if not torch.equal(before[table][i], after[table][i])
    ]
    assert rows == [result.query_index] == [2]  # the spare slot, next after the two classes


def test_expanded_checkpoint_evaluates_every_pair(data, base_run, tmp_path):
    checkpoint = tmp_path / "expanded.ckpt"
    expand_cli.main(
        ["--summary", base_run.summary, "--train-shards", str(shards(data, "train"))]
        + ["--new-class", "violin", "--steps", "2", "--batch-size", "2", "--out", str(checkpoint)]
    )
    pairs = data.test_pairs("demo")
    common = {"shards": shards(data, "test"), "pairs": pairs, "batch_size": 2}
    before = evaluate_run(
        base_run.summary, metrics=tmp_path / "b.json", per_pair=tmp_path / "b.tsv", **common
    )
    # A checkpoint file alone (no run summary), as a converted published one is evaluated.
    after = evaluate_cli.main(
        ["--checkpoint", str(checkpoint), "--shards", str(common["shards"]), "--pairs", pairs]
        + ["--metrics", str(tmp_path / "a.json"), "--per-pair", str(tmp_path / "a.tsv")]
        + ["--batch-size", "2"]
    )
    # The base model knows neither violin pair; the expanded one scores all three.
    assert (
        len(before["rows"]) == 1
        and json.loads((tmp_path / "b.json").read_text())["pairs_of_unknown_classes"] == 2
    )
    assert len(after["rows"]) == 3
    # The cello-flute pair moves only through the decoder's attention between queries.
    assert before["rows"][0]["model_sdr"] == pytest.approx(after["rows"][0]["model_sdr"], abs=0.1)
    assert load_system(checkpoint).hparams.data_spec["expanded"]["new_class"] == "violin"
    with pytest.raises(SystemExit, match="already knows 'violin'"):
        expand_cli.main(
            ["--checkpoint", str(checkpoint), "--train-shards", str(shards(data, "train"))]
            + ["--new-class", "violin", "--steps", "1", "--out", str(tmp_path / "x.ckpt")]
        )


def violin_sdr(rows: list[dict]) -> list[tuple[float, float]]:
    """(model, mixture) SDR of the violin in each test pair that holds one."""
    out = []
    for row in rows:
        side = "a" if row["class_a"] == "violin" else "b" if row["class_b"] == "violin" else None
        if side:
            out.append((row[f"model_sdr_{side}"], row[f"mixture_sdr_{side}"]))
    return out


def test_expansion_separates_the_new_class(data, base_run, tmp_path):
    """60 steps of query+mask on the violin's mixtures: in both test pairs with a violin, its
    track beats the mixture (the violin's SDR with nothing separated) and the same query added
    but never trained, each by more than 10 dB. (With the query alone, this tiny model gains
    a fraction of a dB: its mask head has too little to steer.)"""
    mode = "query+mask"
    summary = json.loads(open(base_run.summary).read())
    scores = {}
    for steps in (0, 60):
        system = load_system(base_run.path + "/" + summary["best_checkpoint"])
        refs = read_shard_index(shards(data, "train"))
        settings = {"mode": mode, "steps": steps, "batch_size": 4, "lr": 0.01, "log": None}
        expansion = expand(system, "violin", refs, frame_rate=1, **settings)
        checkpoint = tmp_path / f"expanded-{steps}.ckpt"
        save_expanded(system, expansion, checkpoint)
        result = evaluate_cli.main(
            ["--checkpoint", str(checkpoint), "--shards", str(shards(data, "test"))]
            + ["--pairs", data.test_pairs("demo"), "--batch-size", "2"]
            + ["--metrics", str(tmp_path / f"{steps}.json")]
            + ["--per-pair", str(tmp_path / f"{steps}.tsv")]
        )
        scores[steps] = violin_sdr(result["rows"])
    assert len(scores[60]) == 2
    for (trained, mixture), (untrained, _) in zip(scores[60], scores[0], strict=True):
        assert trained > mixture + 10 and trained > untrained + 10, scores
