"""Spectral front end: STFT round trip, log-frequency warp, targets, loss."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from iquery.model.audio import (
    SpectralFrontEnd,
    apply_freq_matrix,
    binary_mask,
    inverse_log_freq_matrix,
    istft,
    log_freq_matrix,
    loss_weight,
    magnitude_phase,
    mask_loss,
    ratio_mask,
    stft,
)

torch.set_num_threads(1)

MUSIC_LEN = 65535


def test_stft_shape_and_istft_round_trip():
    torch.manual_seed(0)
    wave = torch.rand(2, MUSIC_LEN) * 2 - 1
    spec = stft(wave)
    assert spec.shape == (2, 512, 256) and spec.is_complex()
    assert istft(spec).shape == (2, 256 * 255)  # librosa's default length
    back = istft(spec, length=MUSIC_LEN)
    assert (back - wave).abs().max() < 1e-5


def test_stft_keeps_leading_dims_and_polar_round_trip():
    wave = torch.randn(2, 3, 4096)
    spec = stft(wave)
    assert spec.shape == (2, 3, 512, 17)
    mag, phase = magnitude_phase(spec)
    assert torch.allclose(torch.polar(mag, phase), spec, atol=1e-4)


def test_warp_matrices_are_convex_interpolation():
    fwd, inv = log_freq_matrix(), inverse_log_freq_matrix()
    assert fwd.shape == (256, 512) and inv.shape == (512, 256)
    for mat in (fwd, inv):
        assert (mat >= 0).all()
        assert torch.allclose(mat.sum(dim=1), torch.ones(len(mat)))


def test_warp_uses_published_positions_away_from_edges():
    # grid_sample with the published frequency grid and time at pixel centres must agree with the
    # matrix wherever no sample position falls outside the outer bin centres.
    torch.manual_seed(0)
    x = torch.rand(1, 1, 512, 8)
    y = torch.linspace(-1, 1, 256, dtype=torch.float64)
    y_in = ((21.0 ** ((y + 1) / 2) - 11) / 10).float()
    t_in = (torch.arange(8) * 2 + 1) / 8 - 1
    grid = torch.stack(torch.meshgrid(y_in, t_in, indexing="ij")[::-1], dim=-1)[None]
    ref = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    ours = apply_freq_matrix(x, log_freq_matrix())
    # Rows 0-1 and 255 sample outside the outer bin centres (rows 0-1 at pixel < 0).
    # grid_sample gets float32 coordinates (~3e-5 of a bin at the top), hence the tolerance.
    assert (ours[..., 2:-1, :] - ref[..., 2:-1, :]).abs().max() < 1e-4
    # There the published zero padding fades the value; the clamp keeps it.
    assert torch.allclose(ours[..., :2, :], x[..., :1, :].expand(-1, -1, 2, -1))
    assert (ref[..., 0, :] < 0.9 * x[..., 0, :]).all()
    assert torch.allclose(ours[..., -1, :], x[..., -1, :])


def test_warp_round_trip_constant_map_is_exact():
    x = torch.full((2, 1, 512, 256), 2.0)
    fe = SpectralFrontEnd()
    back = fe.unwarp(fe.warp(x))
    assert (back - x).abs().max() < 1e-5  # edges included: no attenuated rows or frames


def test_warp_round_trip_smooth_map():
    f = torch.linspace(0, 1, 512)[:, None]
    t = torch.linspace(0, 1, 256)[None]
    x = 2 + 0.5 * torch.sin(2 * math.pi * f) * torch.cos(2 * math.pi * 2 * t)
    fe = SpectralFrontEnd()
    err = (fe.unwarp(fe.warp(x)) - x).abs()
    # The coarse top of the log grid (one row per ~6 bins) dominates; the lower half is near exact.
    assert err.max() < 0.025
    assert err[:256].max() < 0.01
    assert err.mean() < 0.006
    # Edge frames are as good as the middle ones, row by row (no attenuated first or last frame).
    middle = err[:, 1:-1].amax(dim=1)
    assert (err[:, 0] <= middle + 1e-4).all() and (err[:, -1] <= middle + 1e-4).all()


def test_warp_leaves_time_axis_alone():
    torch.manual_seed(0)
    fe = SpectralFrontEnd()
    profile = torch.rand(256) + 0.5
    x = profile.expand(512, 256)
    assert torch.allclose(fe.warp(x), profile.expand(256, 256), rtol=0, atol=1e-6)
    # Changing one frame changes only that frame of the output.
    y = torch.rand(512, 256)
    z = y.clone()
    z[:, 7] += 1.0
    diff = (fe.warp(z) - fe.warp(y)).abs().amax(dim=0)
    assert diff[7] > 0.5 and diff[torch.arange(256) != 7].max() == 0


def test_ratio_mask_clamps():
    src = torch.tensor([0.0, 1.0, 3.0, 12.0])
    mix = torch.tensor([2.0, 2.0, 1.0, 2.0])
    assert torch.equal(ratio_mask(src, mix), torch.tensor([0.0, 0.5, 3.0, 5.0]))


def test_loss_weight_values():
    x = torch.tensor([0.0, math.e - 1, 1e5])
    assert torch.allclose(loss_weight(x), torch.tensor([1e-3, 1.0, 10.0]))


PRED = torch.tensor([[[[0.5, 0.75]], [[0.25, 0.25]]]])  # (1, 2, 1, 2) sigmoid outputs
TARGET = torch.tensor([[[[1.0, 1.0]], [[0.0, 1.0]]]])
WEIGHT = torch.tensor([[[[2.0, 4.0]]]])  # (1, 1, 1, 2)


def test_weighted_l1_by_hand():
    # |diff| * w = [[1, 1], [0.5, 3]]: mean over 4 elements = 1.375.
    loss = mask_loss("l1", torch.logit(PRED), TARGET, WEIGHT)
    assert loss.shape == (1,) and torch.isclose(loss, torch.tensor([1.375])).all()
    per_source = [(WEIGHT * (PRED[:, n] - TARGET[:, n]).abs()).mean() for n in range(2)]
    assert torch.isclose(loss[0], 0.5 * sum(per_source))


def test_weighted_bce_by_hand():
    bce = -(TARGET * PRED.log() + (1 - TARGET) * (1 - PRED).log())
    loss = mask_loss("bce", torch.logit(PRED), TARGET, WEIGHT)
    assert torch.isclose(loss, (WEIGHT * bce).mean(), atol=1e-6).all()
    with pytest.raises(ValueError, match="unknown loss"):
        mask_loss("l2", PRED, TARGET, WEIGHT)


def test_binary_mask_is_half_the_mixture():
    src = torch.tensor([0.0, 0.5, 0.51, 3.0])
    assert torch.equal(binary_mask(src, torch.ones(4)), torch.tensor([0.0, 0.0, 1.0, 1.0]))


@pytest.mark.parametrize("divide", [True, False])
def test_mixture_batch(divide):
    torch.manual_seed(0)
    sources = (torch.rand(2, 2, MUSIC_LEN) * 2 - 1) * 0.5
    fe = SpectralFrontEnd()
    batch = fe(sources, divide=divide)
    scale = 0.5 if divide else 1.0
    assert torch.allclose(batch.mixture, sources.sum(1) * scale)
    assert torch.allclose(batch.sources, sources * scale)
    assert batch.mix_mag.shape == batch.mix_phase.shape == (2, 1, 512, 256)
    assert batch.net_input.shape == batch.weight.shape == (2, 1, 256, 256)
    assert batch.gt_masks.shape == (2, 2, 256, 256)
    assert batch.gt_masks.min() >= 0 and batch.gt_masks.max() <= 5
    assert batch.weight.min() >= 1e-3 and batch.weight.max() <= 10
    warped_mix = fe.warp(batch.mix_mag)
    assert torch.allclose(batch.net_input, torch.log1p(warped_mix))
    assert torch.allclose(batch.log_input, torch.log(warped_mix))
    # Targets are computed after warping.
    src_mag = stft(batch.sources).abs()
    assert torch.allclose(batch.gt_masks, (fe.warp(src_mag) / warped_mix).clamp(0, 5))
    assert torch.equal(batch.targets("binary"), (fe.warp(src_mag) > 0.5 * warped_mix).float())
    assert batch.targets("ratio") is batch.gt_masks


def test_reconstruct_with_unit_mask_gives_mixture():
    torch.manual_seed(0)
    sources = (torch.rand(1, 2, MUSIC_LEN) * 2 - 1) * 0.5
    fe = SpectralFrontEnd()
    batch = fe(sources)
    waves = fe.reconstruct(torch.ones(1, 2, 256, 256), batch.mix_mag, batch.mix_phase)
    assert waves.shape == (1, 2, 65280)
    assert (waves - batch.mixture[:, None, :65280]).abs().max() < 1e-4
    # Binary masks are cut after unwarping: 0.6 everywhere keeps the whole mixture, 0.4 none.
    for value, expected in ((0.6, batch.mixture[:, None, :65280]), (0.4, 0.0)):
        masks = torch.full((1, 2, 256, 256), value)
        cut = fe.reconstruct(masks, batch.mix_mag, batch.mix_phase, threshold=0.5)
        assert (cut - expected).abs().max() < 1e-4


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU")
def test_front_end_on_gpu_matches_cpu():
    torch.manual_seed(0)
    sources = torch.rand(2, 2, MUSIC_LEN) - 0.5
    cpu = SpectralFrontEnd()(sources)
    gpu = SpectralFrontEnd().cuda()(sources.cuda())
    assert gpu.gt_masks.is_cuda
    assert torch.allclose(gpu.net_input.cpu(), cpu.net_input, atol=1e-4)
