"""Mask predictor: positional encodings, shapes, motion padding, query selection."""

from __future__ import annotations

import math

import pytest
import torch

from iquery.model.transformer import MaskPredictor, sine_position_1d, sine_position_2d

torch.set_num_threads(1)


def detr_sine(h: int, w: int, feats: int) -> torch.Tensor:
    """DETR's PositionEmbeddingSine(normalize=True) written the way DETR writes it."""
    not_mask = torch.ones(1, h, w)
    y = not_mask.cumsum(1)
    x = not_mask.cumsum(2)
    y = y / (y[:, -1:, :] + 1e-6) * 2 * math.pi
    x = x / (x[:, :, -1:] + 1e-6) * 2 * math.pi
    dim_t = torch.arange(feats, dtype=torch.float32)
    dim_t = 10000 ** (2 * (dim_t // 2) / feats)
    px = x[..., None] / dim_t
    py = y[..., None] / dim_t
    px = torch.stack((px[..., 0::2].sin(), px[..., 1::2].cos()), dim=4).flatten(3)
    py = torch.stack((py[..., 0::2].sin(), py[..., 1::2].cos()), dim=4).flatten(3)
    return torch.cat((py, px), dim=3)[0].reshape(h * w, 2 * feats)


def test_sine_position_2d_matches_detr():
    pos = sine_position_2d(32, 32, 256)
    assert pos.shape == (1024, 256)
    assert torch.allclose(pos, detr_sine(32, 32, 128), atol=1e-5)
    assert torch.allclose(sine_position_2d(4, 6, 16), detr_sine(4, 6, 8), atol=1e-5)


def test_sine_position_1d():
    pe = sine_position_1d(5, 8)
    assert pe.shape == (5, 8)
    assert torch.equal(pe[0], torch.tensor([0.0, 1.0] * 4))
    assert torch.isclose(pe[3, 2], torch.tensor(math.sin(3 / 10000 ** (2 / 8))))


def tiny_predictor(motion: bool = True) -> MaskPredictor:
    return MaskPredictor(
        num_queries=12,
        in_channels=32,
        hidden=32,
        heads=4,
        ffn=64,
        visual_dim=16,
        motion_dim=24 if motion else None,
        mask_dim=16,
    ).eval()


def tiny_inputs(b: int = 2, t: int = 10):
    torch.manual_seed(0)
    return dict(
        latent=torch.randn(b, 32, 8, 8),
        visual=torch.rand(b, 16),
        class_idx=torch.tensor([3, 7])[:b],
        motion=torch.randn(b, 24, t),
    )


def test_paper_size_shapes():
    torch.manual_seed(0)
    pred = MaskPredictor(num_queries=12).eval()
    assert [layer.self_attn is None for layer in pred.decoder] == [True, False, False, False]
    padding = torch.zeros(2, 20, dtype=torch.bool)
    padding[1, 15:] = True
    with torch.no_grad():
        out = pred(
            torch.randn(2, 256, 32, 32),
            torch.rand(2, 32),
            torch.tensor([0, 11]),
            torch.randn(2, 1024, 20),
            padding,
            all_queries=True,
        )
    assert out.selected.shape == (2, 32)
    assert out.all_queries.shape == (2, 12, 32)
    nomotion = MaskPredictor(num_queries=30, motion_dim=None).eval()
    assert all(layer.self_attn is not None for layer in nomotion.decoder)
    with torch.no_grad():
        out = nomotion(torch.randn(2, 256, 32, 32), torch.rand(2, 32), torch.tensor([0, 29]))
    assert out.selected.shape == (2, 32) and out.all_queries is None


def test_input_projection_only_when_needed():
    assert isinstance(MaskPredictor(12).input_proj, torch.nn.Identity)
    pred = MaskPredictor(12, in_channels=48, hidden=32, heads=4, ffn=64, motion_dim=None)
    assert isinstance(pred.input_proj, torch.nn.Conv2d)
    out = pred(torch.randn(1, 48, 4, 4), torch.rand(1, 32), torch.tensor([2]))
    assert out.selected.shape == (1, 32)


def test_selected_equals_slice_of_all_queries():
    pred = tiny_predictor()
    x = tiny_inputs()
    with torch.no_grad():
        out = pred(**x, all_queries=True)
    assert torch.allclose(out.selected, out.all_queries[torch.arange(2), x["class_idx"]])


def test_boolean_padding_masks_motion_tokens():
    pred = tiny_predictor()
    x = tiny_inputs()
    padding = torch.zeros(2, 10, dtype=torch.bool)
    padding[0, 6:] = True
    with torch.no_grad():
        ref = pred(**x, motion_padding=padding).selected
        changed = x["motion"].clone()
        changed[0, :, 6:] = 100 * torch.randn(24, 4)
        out = pred(**{**x, "motion": changed}, motion_padding=padding).selected
        assert torch.allclose(out, ref, atol=1e-6)
        # The same change without the mask does reach the output.
        assert not torch.allclose(pred(**{**x, "motion": changed}).selected, ref, atol=1e-3)
        # So does a change to a real token.
        real = x["motion"].clone()
        real[0, :, 2] += 5
        moved = pred(**{**x, "motion": real}, motion_padding=padding).selected
        assert not torch.allclose(moved[0], ref[0], atol=1e-3)
        assert torch.allclose(moved[1], ref[1], atol=1e-6)  # rows stay independent


def test_padding_mask_checks():
    pred = tiny_predictor()
    x = tiny_inputs()
    with pytest.raises(TypeError, match="boolean"):
        pred(**x, motion_padding=torch.zeros(2, 10))
    full = torch.zeros(2, 10, dtype=torch.bool)
    full[1] = True
    with pytest.raises(ValueError, match="only padded"):
        pred(**x, motion_padding=full)
    with pytest.raises(ValueError, match="motion"):
        pred(x["latent"], x["visual"], x["class_idx"])


def test_visual_feature_enters_only_its_class_slot():
    pred = tiny_predictor(motion=False)
    x = tiny_inputs()
    x.pop("motion")
    memory = pred.encode(x["latent"])
    with torch.no_grad():
        base = pred.decode(memory, x["visual"], x["class_idx"]).selected
        other = pred.decode(memory, x["visual"] + 1, x["class_idx"]).selected
        moved = pred.decode(memory, x["visual"], torch.tensor([4, 7])).selected
    assert not torch.allclose(base, other, atol=1e-4)
    assert not torch.allclose(base[0], moved[0], atol=1e-4)
    assert torch.allclose(base[1], moved[1], atol=1e-6)
    assert torch.equal(pred(**x).selected, base)


def test_gradients_reach_queries_and_projections():
    pred = tiny_predictor().train()
    pred(**tiny_inputs()).selected.sum().backward()
    for p in (pred.query_embed.weight, pred.visual_proj.weight, pred.motion_proj.weight):
        assert p.grad is not None and p.grad.abs().sum() > 0
