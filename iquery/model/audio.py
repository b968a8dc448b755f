"""Spectral front end of iQuery: STFT, the log-frequency warp, target masks and the weighted losses.

Follows the published code (docs/method.md §2): Hann STFT with n_fft 1022 (512 bins), centred
frames, mixture = sum of sources / N (MUSIC; AVE does not divide), 1e-10 added to the mixture
magnitude, magnitudes warped to a 256-row log-frequency grid (``n_warped``, a run's freq_bins),
ratio masks computed *after* warping and clamped to [0, 5], loss weight
clamp(log1p(warped mixture), 1e-3, 10), network input log1p(warped mixture).
Sound of Pixels, for its baseline: binary masks (source > half the mixture), weighted binary
cross-entropy, network input log(warped mixture).

Deliberate differences from the published code (docs/method.md §7):

* The warp is a fixed interpolation matrix acting on frequency only. The published code used
  ``grid_sample`` over both axes with ``align_corners=False`` and zero padding, so it also resampled
  time, which halves the first and last time frames (a quarter at the corners), and it faded the
  outermost frequency rows towards the zero padding (visible as ~10 attenuated top rows after the
  inverse warp). Here the frequency sampling positions are the published ones, but positions outside
  the outermost bin centres are clamped to the edge bin (``padding_mode="border"`` behaviour), so a
  constant map survives warp and inverse warp exactly and time is never touched.
* STFT padding uses ``reflect`` like librosa < 0.10 (what the 2022 code ran with); it only changes
  the first and last frame and makes no difference to the iSTFT round trip.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property, lru_cache

import torch
import torch.nn.functional as F
from torch import Tensor, nn

N_FFT = 1022
HOP = 256
N_WARPED = 256
MAX_RATIO = 5.0
MAG_EPS = 1e-10


# --------------------------------------------------------------------------------------------
# STFT


@lru_cache(maxsize=16)
def _hann(n_fft: int, device: torch.device, dtype: torch.dtype) -> Tensor:
    # Periodic Hann of length n_fft, as librosa/scipy build it for spectral analysis.
    return torch.hann_window(n_fft, periodic=True, dtype=dtype, device=device)


def stft(
    wave: Tensor,
    n_fft: int = N_FFT,
    hop: int = HOP,
    window: Tensor | None = None,
    pad_mode: str = "reflect",
) -> Tensor:
    """Complex STFT of ``wave`` (..., L) → (..., n_fft // 2 + 1, 1 + L // hop), centred frames."""
    if window is None:
        window = _hann(n_fft, wave.device, wave.dtype)
    lead = wave.shape[:-1]
    spec = torch.stft(
        wave.reshape(-1, wave.shape[-1]),
        n_fft=n_fft,
        hop_length=hop,
        win_length=n_fft,
        window=window,
        center=True,
        pad_mode=pad_mode,
        return_complex=True,
    )
    return spec.reshape(*lead, *spec.shape[-2:])


def istft(
    spec: Tensor,
    n_fft: int = N_FFT,
    hop: int = HOP,
    length: int | None = None,
    window: Tensor | None = None,
) -> Tensor:
    """Inverse of :func:`stft`: complex (..., F, T) → wave (..., length).

    Without ``length`` the result has ``hop * (T - 1)`` samples, as librosa gives (65280 for MUSIC).
    """
    if window is None:
        window = _hann(n_fft, spec.device, spec.real.dtype)
    lead = spec.shape[:-2]
    wave = torch.istft(
        spec.reshape(-1, *spec.shape[-2:]),
        n_fft=n_fft,
        hop_length=hop,
        win_length=n_fft,
        window=window,
        center=True,
        length=length,
    )
    return wave.reshape(*lead, wave.shape[-1])


def magnitude_phase(spec: Tensor) -> tuple[Tensor, Tensor]:
    """Split a complex spectrogram into magnitude and phase (radians)."""
    return spec.abs(), spec.angle()


def from_magnitude_phase(mag: Tensor, phase: Tensor) -> Tensor:
    """Complex spectrogram from magnitude and phase."""
    return torch.polar(mag, phase)


# --------------------------------------------------------------------------------------------
# Log-frequency warp as matrices


def _interp_matrix(positions: Tensor, n_in: int) -> Tensor:
    """Rows of linear-interpolation weights reading ``n_in`` bins at normalised ``positions``.

    ``positions`` are in [-1, 1] with grid_sample's ``align_corners=False`` convention (-1 and 1
    are the outer edges of the first and last bin); they are clamped to the outer bin centres.
    """
    pix = ((positions + 1.0) * n_in - 1.0) / 2.0
    pix = pix.clamp(0.0, n_in - 1.0)
    lo = pix.floor().long().clamp(max=n_in - 2)
    frac = pix - lo.to(pix.dtype)
    rows = torch.arange(len(positions))
    mat = torch.zeros(len(positions), n_in, dtype=torch.float64)
    mat[rows, lo] = 1.0 - frac
    mat[rows, lo + 1] += frac
    return mat


@lru_cache(maxsize=8)
def _warp_matrix_cpu(n_out: int, n_in: int, inverse: bool) -> Tensor:
    y = torch.linspace(-1.0, 1.0, n_out, dtype=torch.float64)
    if inverse:
        pos = 2.0 * torch.log(10.0 * y + 11.0) / math.log(21.0) - 1.0
    else:
        pos = (torch.pow(21.0, (y + 1.0) / 2.0) - 11.0) / 10.0
    return _interp_matrix(pos, n_in)


def log_freq_matrix(
    n_out: int = N_WARPED,
    n_in: int = N_FFT // 2 + 1,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """(n_out, n_in) matrix taking linear frequency bins to the log-frequency grid."""
    return _warp_matrix_cpu(n_out, n_in, False).to(device=device, dtype=dtype)


def inverse_log_freq_matrix(
    n_out: int = N_FFT // 2 + 1,
    n_in: int = N_WARPED,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """(n_out, n_in) matrix taking the log-frequency grid back to linear frequency bins."""
    return _warp_matrix_cpu(n_out, n_in, True).to(device=device, dtype=dtype)


def apply_freq_matrix(x: Tensor, matrix: Tensor) -> Tensor:
    """Apply a (F_out, F_in) matrix along the frequency axis (-2) of x (..., F_in, T)."""
    return torch.matmul(matrix.to(x.dtype), x)


# --------------------------------------------------------------------------------------------
# Targets and loss


def ratio_mask(source_mag: Tensor, mix_mag: Tensor, max_value: float = MAX_RATIO) -> Tensor:
    """Ratio mask source / mixture clamped to [0, max_value] (mix_mag must be positive)."""
    return (source_mag / mix_mag).clamp(0.0, max_value)


def loss_weight(mix_mag_warped: Tensor) -> Tensor:
    """Per-bin loss weight clamp(log1p(|X|), 1e-3, 10) on the warped mixture magnitude."""
    return torch.log1p(mix_mag_warped).clamp(1e-3, 10.0)


def binary_mask(source_mag: Tensor, mix_mag: Tensor) -> Tensor:
    """Sound of Pixels' target: 1 where the source holds more than half the mixture."""
    return (source_mag > 0.5 * mix_mag).to(source_mag.dtype)


def mask_loss(kind: str, logits: Tensor, target: Tensor, weight: Tensor) -> Tensor:
    """Each mixture's loss (B,) from logits and targets (B, N, F, T), weight (B, 1, F, T).

    ``l1`` (iQuery): mean of weight · |sigmoid(logits) - target| over sources and bins, so the
    batch mean is the published 0.5 · Σ_n mean(w · |p_n - g_n|) for N = 2. ``bce`` (Sound of
    Pixels): mean of weight · BCE(sigmoid(logits), target), taken on the logits: the same value,
    steadier in low precision, and safe under autocast (plain BCE is not).
    """
    logits, weight = logits.float(), weight.expand_as(target)
    if kind == "bce":
        each = F.binary_cross_entropy_with_logits(logits, target, weight=weight, reduction="none")
    elif kind == "l1":
        each = weight * (torch.sigmoid(logits) - target).abs()
    else:
        raise ValueError(f"unknown loss {kind!r}; use l1 or bce")
    return each.mean(dim=(1, 2, 3))


# --------------------------------------------------------------------------------------------
# Mixture synthesis


@dataclass
class MixtureBatch:
    """Everything the model and the loss need from one batch of mixtures (shapes for MUSIC)."""

    sources: Tensor  # (B, N, L) sources as they enter the mixture (after ÷N when dividing)
    mixture: Tensor  # (B, L)
    mix_mag: Tensor  # (B, 1, 512, T) linear magnitude, +1e-10
    mix_phase: Tensor  # (B, 1, 512, T)
    mix_warped: Tensor  # (B, 1, 256, T) the mixture magnitude on the log-frequency grid
    src_warped: Tensor  # (B, N, 256, T) each source's magnitude on the same grid
    max_ratio: float = MAX_RATIO

    @cached_property
    def net_input(self) -> Tensor:
        """iQuery's network input: log1p of the warped mixture magnitude."""
        return torch.log1p(self.mix_warped)

    @cached_property
    def log_input(self) -> Tensor:
        """Sound of Pixels' network input: log of the warped mixture magnitude."""
        return torch.log(self.mix_warped)

    @cached_property
    def gt_masks(self) -> Tensor:
        """Ratio masks on the warped grid, in [0, max_ratio]."""
        return ratio_mask(self.src_warped, self.mix_warped, self.max_ratio)

    @cached_property
    def binary_masks(self) -> Tensor:
        return binary_mask(self.src_warped, self.mix_warped)

    @cached_property
    def weight(self) -> Tensor:
        return loss_weight(self.mix_warped)

    def targets(self, mask: str) -> Tensor:
        """The masks a model learns: ``ratio`` (iQuery) or ``binary`` (Sound of Pixels)."""
        return self.binary_masks if mask == "binary" else self.gt_masks


class SpectralFrontEnd(nn.Module):
    """STFT, warp matrices and mixture synthesis with the window and matrices as buffers.

    Being a module, ``.to(device)`` moves everything, so batches are built on the GPU as well.
    """

    def __init__(
        self,
        n_fft: int = N_FFT,
        hop: int = HOP,
        n_warped: int = N_WARPED,
        max_ratio: float = MAX_RATIO,
    ) -> None:
        super().__init__()
        self.n_fft = n_fft
        self.hop = hop
        self.max_ratio = max_ratio
        n_bins = n_fft // 2 + 1
        # Buffers are not saved in checkpoints: they are fully determined by the sizes.
        self.register_buffer("window", torch.hann_window(n_fft, periodic=True), persistent=False)
        self.register_buffer("warp_matrix", log_freq_matrix(n_warped, n_bins), persistent=False)
        self.register_buffer(
            "unwarp_matrix", inverse_log_freq_matrix(n_bins, n_warped), persistent=False
        )

    def stft(self, wave: Tensor) -> Tensor:
        return stft(wave, self.n_fft, self.hop, window=self.window)

    def istft(self, spec: Tensor, length: int | None = None) -> Tensor:
        return istft(spec, self.n_fft, self.hop, length=length, window=self.window)

    def warp(self, x: Tensor) -> Tensor:
        """(..., 512, T) → (..., 256, T) on the log-frequency grid."""
        return apply_freq_matrix(x, self.warp_matrix)

    def unwarp(self, x: Tensor) -> Tensor:
        """(..., 256, T) → (..., 512, T) back on linear frequency bins."""
        return apply_freq_matrix(x, self.unwarp_matrix)

    def forward(self, sources: Tensor, divide: bool = True) -> MixtureBatch:
        """Mix ``sources`` (B, N, L) and build input, targets and weights.

        ``divide=True`` scales each source by 1/N before summing (MUSIC, MUSIC-21); AVE uses False.
        """
        if sources.dim() != 3:
            raise ValueError(f"sources must be (B, N, L), got {tuple(sources.shape)}")
        if divide:
            sources = sources / sources.shape[1]
        mixture = sources.sum(dim=1)
        mix_mag, mix_phase = magnitude_phase(self.stft(mixture).unsqueeze(1))
        mix_mag = mix_mag + MAG_EPS
        return MixtureBatch(
            sources=sources,
            mixture=mixture,
            mix_mag=mix_mag,
            mix_phase=mix_phase,
            mix_warped=self.warp(mix_mag),
            src_warped=self.warp(self.stft(sources).abs()),
            max_ratio=self.max_ratio,
        )

    def reconstruct(
        self,
        masks: Tensor,
        mix_mag: Tensor,
        mix_phase: Tensor,
        length: int | None = None,
        threshold: float | None = None,
    ) -> Tensor:
        """Waveforms from warped masks in [0, 1] (B, N, 256, T) and the mixture's magnitude/phase.

        The mask is unwarped to linear bins (and, for binary masks, cut at ``threshold`` there,
        as Sound of Pixels does), multiplied with the mixture magnitude and inverted with the
        mixture phase; output (B, N, length) clipped to [-1, 1] as the evaluation expects.
        """
        return self.reconstruct_linear(self.unwarp(masks), mix_mag, mix_phase, length, threshold)

    def reconstruct_linear(
        self,
        linear: Tensor,
        mix_mag: Tensor,
        mix_phase: Tensor,
        length: int | None = None,
        threshold: float | None = None,
    ) -> Tensor:
        """``reconstruct`` from masks already on linear bins (B, N, 512, T)."""
        if threshold is not None:
            linear = (linear > threshold).to(linear.dtype)
        mag = linear * mix_mag
        wave = self.istft(from_magnitude_phase(mag, mix_phase.expand_as(mag)), length)
        return wave.clamp(-1.0, 1.0)
