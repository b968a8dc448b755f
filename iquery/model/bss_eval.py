"""BSS Eval (SDR, SIR, SAR) of several estimates of the same references, at once.

mir_eval's ``bss_eval_sources`` (no permutation, 512-tap distortion filters) solves, for every
estimated source, two least-squares problems whose matrices depend on the references alone: the
Gram matrix of the delayed references (1024 × 1024 for two sources) and that of the source's own
reference (512 × 512). Scoring the model, the mixture and the ideal mask of one pair calls it
three times, so the same matrices are built and factorised six times over. Here each matrix is
built and factorised once per pair and every estimate is a right-hand side of the same solve.

The arithmetic is mir_eval's own, step by step (its ``_project`` and ``_bss_decomp_mtifilt``,
then its ``_bss_source_crit`` for the ratios), so the figures agree with it to rounding:
``tests/test_training.py`` checks them against mir_eval, ``bench/bench_bss_eval.py`` times
both.
"""

from __future__ import annotations

import numpy as np

FILTER_LENGTH = 512  # mir_eval's bss_eval_sources: distortion filters of 512 taps


def _toeplitz_block(ssf: np.ndarray, flen: int) -> np.ndarray:
    from scipy.linalg import toeplitz

    return toeplitz(np.hstack((ssf[0], ssf[-1:-flen:-1])), r=ssf[:flen])


def _solve(gram: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """gram⁻¹ · rhs column by column. The Gram matrix is symmetric and, unless a reference is
    silent or repeats itself, positive definite: a Cholesky factorisation costs half of the LU
    mir_eval's ``np.linalg.solve`` makes, for the same solution to rounding. Otherwise, as
    mir_eval falls back for a singular matrix: least squares."""
    from scipy.linalg import LinAlgError, cho_factor, cho_solve

    try:
        return cho_solve(cho_factor(gram, check_finite=False), rhs, check_finite=False)
    except (LinAlgError, np.linalg.LinAlgError):
        return np.linalg.lstsq(gram, rhs, rcond=None)[0]


def _projections(refs_f, refs_padded, est_f, flen: int, nsampl: int, which) -> np.ndarray:
    """Least-squares projections of every estimate on the delayed references ``which``:
    (E, nsampl + flen - 1) for estimates whose FFTs are ``est_f`` (E, n_fft)."""
    from scipy import fftpack

    k = len(which)
    gram = np.zeros((k * flen, k * flen))
    for a, i in enumerate(which):
        for b, j in enumerate(which):
            block = _toeplitz_block(np.real(fftpack.ifft(refs_f[i] * np.conj(refs_f[j]))), flen)
            gram[a * flen : (a + 1) * flen, b * flen : (b + 1) * flen] = block
            gram[b * flen : (b + 1) * flen, a * flen : (a + 1) * flen] = block.T
    rhs = np.zeros((k * flen, est_f.shape[0]))
    for a, i in enumerate(which):
        cross = np.real(fftpack.ifft(refs_f[i][None] * np.conj(est_f), axis=1))
        rhs[a * flen : (a + 1) * flen] = np.hstack((cross[:, :1], cross[:, -1:-flen:-1])).T
    filters = _solve(gram, rhs)  # (k * flen, E)
    # Each projection is the sum over references of filter * reference: mir_eval convolves each
    # one apart (fftconvolve); here the references' FFTs, already made, are filtered and summed,
    # and one inverse FFT per estimate gives the same linear convolution (n_fft holds all of it).
    n_fft = refs_f.shape[1]
    taps = filters.T.reshape(est_f.shape[0], k, flen)  # (E, k, flen): a filter per reference
    taps_f = np.fft.rfft(taps, n=n_fft, axis=2)  # (E, k, n_fft // 2 + 1)
    half = n_fft // 2 + 1
    chosen = np.stack([refs_f[i][:half] for i in which])  # (k, n_fft // 2 + 1)
    out = np.fft.irfft((taps_f * chosen[None]).sum(axis=1), n=n_fft, axis=1)
    return out[:, : nsampl + flen - 1]


def bss_eval_shared(
    refs: np.ndarray, estimates: dict[str, np.ndarray], flen: int = FILTER_LENGTH
) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """SDR, SIR and SAR per source of every estimate set: ``refs`` (N, L), each estimate (N, L)
    in the references' order. Returns {name: (sdr (N,), sir (N,), sar (N,))}, as
    ``mir_eval.separation.bss_eval_sources(refs, est, compute_permutation=False)`` would."""
    from mir_eval.separation import _bss_source_crit
    from scipy import fftpack

    refs = np.asarray(refs, dtype=np.float64)
    names = list(estimates)
    ests = np.stack([np.asarray(estimates[n], dtype=np.float64) for n in names])  # (M, N, L)
    if ests.shape[1:] != refs.shape:
        raise ValueError(f"estimates {ests.shape[1:]} and references {refs.shape} differ")
    nsrc, nsampl = refs.shape
    n_fft = int(2 ** np.ceil(np.log2(nsampl + flen - 1.0)))
    refs_padded = np.hstack((refs, np.zeros((nsrc, flen - 1))))
    refs_f = fftpack.fft(refs_padded, n=n_fft, axis=1)
    flat = np.concatenate((ests.reshape(-1, nsampl), np.zeros((ests.shape[0] * nsrc, flen - 1))), 1)
    est_f = fftpack.fft(flat, n=n_fft, axis=1)  # row m * nsrc + j: estimate j of set m
    on_all = _projections(refs_f, refs_padded, est_f, flen, nsampl, range(nsrc))
    scores = np.zeros((ests.shape[0], 3, nsrc))
    for j in range(nsrc):
        rows = np.arange(ests.shape[0]) * nsrc + j
        on_own = _projections(refs_f, refs_padded, est_f[rows], flen, nsampl, [j])
        s_true = refs_padded[j]
        for m, row in enumerate(rows):
            e_spat = on_own[m] - s_true
            e_interf = on_all[row] - s_true - e_spat
            e_artif = -s_true - e_spat - e_interf
            e_artif[:nsampl] += ests[m, j]
            scores[m, :, j] = _bss_source_crit(s_true, e_spat, e_interf, e_artif)
    return {n: (scores[m, 0], scores[m, 1], scores[m, 2]) for m, n in enumerate(names)}
