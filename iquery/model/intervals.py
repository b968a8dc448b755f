"""How sure a test-set figure is: seeded bootstrap intervals and paired differences.

A figure is a mean over the fixed test pairs (and over training seeds, where a run was trained
with several). Its 95 % interval comes from a percentile bootstrap:

* one seed: the pairs are drawn again with replacement, ``draws`` times;
* several seeds: the seeds and the pairs are drawn again, each with replacement and each
  independently of the other (a crossed bootstrap), so that the interval carries both how the
  test pairs happened to fall and how training happened to go.

Two methods scored on the same pairs are compared pair by pair: the difference of their
per-pair values is bootstrapped the same way (a paired interval, much narrower than the two
intervals side by side would suggest, because a hard pair is hard for both), and the pairs each
one wins are counted. A difference is *resolved* when its interval leaves out zero.

Every draw comes from ``numpy.random.default_rng(seed)``: the same values and seed give the same
interval on any machine.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

LEVEL = 0.95
DRAWS = 10_000
# Draws made at once: bounds memory to about CHUNK x seeds x pairs floats.
CHUNK = 1_000


@dataclass(frozen=True)
class Interval:
    """A mean and its bootstrap interval."""

    mean: float
    low: float
    high: float

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Difference:
    """``a - b`` over the pairs both scored: its mean and interval, and who won how often."""

    mean: float
    low: float
    high: float
    wins_a: int  # pairs where a scored higher (per-pair values averaged over seeds first)
    wins_b: int
    ties: int
    pairs: int
    seeds: int

    @property
    def resolved(self) -> bool:
        """The interval leaves out zero: the test set tells the two apart."""
        return self.low > 0 or self.high < 0

    def as_dict(self) -> dict:
        return asdict(self) | {"resolved": self.resolved}


def _as_grid(values) -> np.ndarray:
    """(seeds, pairs) float64 from a list of pairs (one seed) or a nested list."""
    grid = np.asarray(values, dtype=np.float64)
    if grid.ndim == 1:
        grid = grid[None, :]
    if grid.ndim != 2 or grid.shape[1] == 0 or grid.shape[0] == 0:
        raise ValueError(f"bootstrap: need values of shape (seeds, pairs), got {grid.shape}")
    if not np.isfinite(grid).all():
        raise ValueError("bootstrap: values must be finite (leave skipped pairs out first)")
    return grid


def bootstrap_means(values, *, draws: int = DRAWS, seed: int = 0) -> np.ndarray:
    """The mean of ``values`` (seeds, pairs) under ``draws`` crossed resamplings of its seeds
    and pairs (only the pairs when there is one seed)."""
    grid = _as_grid(values)
    n_seeds, n_pairs = grid.shape
    rng = np.random.default_rng(seed)
    out = np.empty(draws, dtype=np.float64)
    for start in range(0, draws, CHUNK):
        size = min(CHUNK, draws - start)
        pairs = rng.integers(0, n_pairs, size=(size, n_pairs))
        per_seed = grid[:, pairs].mean(axis=2)  # (seeds, size): each seed over the drawn pairs
        if n_seeds > 1:
            seeds = rng.integers(0, n_seeds, size=(size, n_seeds))
            out[start : start + size] = per_seed[seeds, np.arange(size)[:, None]].mean(axis=1)
        else:
            out[start : start + size] = per_seed[0]
    return out


def interval(values, *, level: float = LEVEL, draws: int = DRAWS, seed: int = 0) -> Interval:
    """The mean of ``values`` (pairs, or seeds x pairs) and its percentile bootstrap interval."""
    grid = _as_grid(values)
    means = bootstrap_means(grid, draws=draws, seed=seed)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return Interval(float(grid.mean()), float(low), float(high))


def paired_difference(
    a, b, *, level: float = LEVEL, draws: int = DRAWS, seed: int = 0, tie: float = 0.0
) -> Difference:
    """``a - b`` for two methods scored on the same pairs (same shapes: seeds x pairs, seed k of
    one beside seed k of the other). Wins compare each pair's mean over the seeds; values
    within ``tie`` of each other are a tie."""
    grid_a, grid_b = _as_grid(a), _as_grid(b)
    if grid_a.shape != grid_b.shape:
        raise ValueError(
            f"paired difference: shapes {grid_a.shape} and {grid_b.shape} differ; compare "
            "runs scored on the same pairs with the same seeds"
        )
    diff = grid_a - grid_b
    spread = interval(diff, level=level, draws=draws, seed=seed)
    per_pair = diff.mean(axis=0)
    return Difference(
        mean=spread.mean,
        low=spread.low,
        high=spread.high,
        wins_a=int((per_pair > tie).sum()),
        wins_b=int((per_pair < -tie).sum()),
        ties=int((np.abs(per_pair) <= tie).sum()),
        pairs=int(diff.shape[1]),
        seeds=int(diff.shape[0]),
    )


def spread_over_seeds(values) -> dict:
    """Each seed's mean over the pairs, and their standard deviation (ddof 1; None with one)."""
    grid = _as_grid(values)
    per_seed = grid.mean(axis=1)
    sd = float(per_seed.std(ddof=1)) if len(per_seed) > 1 else None
    return {"per_seed": [float(v) for v in per_seed], "seed_sd": sd}


def describe_difference(name_a: str, name_b: str, diff: Difference, unit: str = "dB") -> str:
    """One plain sentence: what the interval says about ``a - b``."""
    wins = f"{name_a} better on {diff.wins_a} of {diff.pairs} pairs"
    if diff.resolved:
        # Said from the side of the one above: "B is above A by 0.45 dB (0.15 to 0.76)".
        sign = 1 if diff.mean > 0 else -1
        better, worse = (name_a, name_b) if sign > 0 else (name_b, name_a)
        low, high = sorted((sign * diff.low, sign * diff.high))
        won = diff.wins_a if sign > 0 else diff.wins_b
        return (
            f"{better} is above {worse} by {sign * diff.mean:.2f} {unit} (95 % interval "
            f"{low:.2f} to {high:.2f}; {better} better on {won} of {diff.pairs} pairs): the "
            "test set resolves this."
        )
    span = f"{diff.mean:+.2f} {unit}, 95 % interval {diff.low:+.2f} to {diff.high:+.2f}"
    return (
        f"{name_a} − {name_b}: {span} ({wins}): the interval holds zero, so the test set "
        "cannot tell these two apart."
    )


def finite(value: float | None) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))
