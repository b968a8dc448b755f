"""The small object encoder: trained on a dataset's crops, loaded frozen by the visual net."""

import json

import pytest
import torch

from iquery.cli import pretrain_visual
from iquery.model.visual import VisualNet
from tests.test_training import shards
from tests.test_workflow import overlay, snakemake


def test_encoder_trained_on_crops_serves_frozen(data, tmp_path):
    out = tmp_path / "encoder.pt"
    facts = pretrain_visual.main(
        ["--train-shards", str(shards(data, "train")), "--val-shards", str(shards(data, "val"))]
        + ["--frame-size", "64", "--steps", "4", "--batch-size", "4", "--lr", "1e-3"]
        + ["--seed", "0", "--out", str(out)]
    )
    assert facts["steps"] == 4 and 0 <= facts["val_accuracy"] <= 1
    assert json.loads(out.with_suffix(".json").read_text())["classes"] == facts["classes"]
    net = VisualNet(8, out, True, "small")
    assert not any(p.requires_grad for p in net.backbone.parameters())
    saved = torch.load(out, weights_only=True)
    assert all(torch.equal(v, net.backbone.state_dict()[k]) for k, v in saved.items())
    assert net(torch.rand(2, 3, 1, 64, 64)).shape == (2, 8)
    with pytest.raises(ValueError, match="not a small object encoder"):
        torch.save({"x": torch.zeros(1)}, tmp_path / "bad.pt")
        VisualNet(8, tmp_path / "bad.pt", True, "small")


def test_crops_weights_need_the_small_backbone(tmp_path):
    resnet = {"visual_weights": "crops", "model_overrides": {"visual_backbone": "resnet18"}}
    wrong = overlay(tmp_path, {"train": {"settings": {"demo": resnet}}})
    result = snakemake(tmp_path, "-n", "train_demo", configs=[wrong], check=False)
    assert result.returncode != 0
    assert "set model_overrides.visual_backbone: small" in result.stdout + result.stderr
