"""Bootstrap intervals and paired differences (iquery/model/intervals.py): what they cover,
what they resolve, and that they are reproducible."""

from __future__ import annotations

import numpy as np
import pytest

from iquery.model.intervals import (
    describe_difference,
    interval,
    paired_difference,
    spread_over_seeds,
)


def test_interval_covers_the_true_mean_about_95_percent_of_the_time():
    # 300 test sets of 60 pairs from a known distribution: a 95 % interval must hold the
    # distribution's mean in about 95 % of them (the percentile bootstrap runs a little short
    # on small samples; 88-99 % is what 300 trials allow).
    rng = np.random.default_rng(7)
    hits = 0
    for k in range(300):
        values = rng.normal(5.0, 3.0, size=60)
        spread = interval(values, draws=1000, seed=k)
        hits += spread.low <= 5.0 <= spread.high
    assert 0.88 <= hits / 300 <= 0.99


def test_interval_width_matches_the_standard_error():
    values = np.random.default_rng(1).normal(0.0, 2.0, size=400)
    spread = interval(values, draws=4000)
    expected = 1.96 * values.std(ddof=1) / np.sqrt(len(values))
    assert spread.mean == pytest.approx(values.mean())
    assert spread.half_width == pytest.approx(expected, rel=0.1)


def test_same_values_and_seed_give_the_same_interval():
    values = np.random.default_rng(3).normal(size=50)
    assert interval(values, seed=11) == interval(values, seed=11)
    assert interval(values, seed=11) != interval(values, seed=12)


def test_paired_difference_is_narrower_than_two_intervals_side_by_side():
    rng = np.random.default_rng(5)
    hardness = rng.normal(8.0, 4.0, size=200)  # some pairs are hard for every method
    a = hardness + 0.5 + rng.normal(0, 0.5, size=200)
    b = hardness + rng.normal(0, 0.5, size=200)
    diff = paired_difference(a, b)
    alone_a, alone_b = interval(a), interval(b)
    # Side by side the two intervals overlap; paired, the 0.5 dB is resolved.
    assert alone_a.low < alone_b.high
    assert diff.resolved and diff.low > 0.3 and diff.high < 0.7
    assert diff.wins_a > diff.wins_b and diff.wins_a + diff.wins_b + diff.ties == 200


def test_a_difference_within_chance_is_not_resolved():
    rng = np.random.default_rng(9)
    a, b = rng.normal(0, 1, size=40), rng.normal(0, 1, size=40)
    diff = paired_difference(a, b)
    assert diff.low < 0 < diff.high and not diff.resolved
    sentence = describe_difference("iQuery", "no motion", diff)
    assert "cannot tell these two apart" in sentence and "iQuery better on" in sentence


def test_seeds_widen_the_interval_by_how_much_they_disagree():
    rng = np.random.default_rng(2)
    pairs = rng.normal(6.0, 3.0, size=250)
    agreeing = np.stack([pairs + rng.normal(0, 0.1, 250) for _ in range(3)])
    offsets = np.array([[-1.0], [0.0], [1.0]])  # training lands 1 dB apart from seed to seed
    disagreeing = agreeing + offsets
    narrow, wide = interval(agreeing), interval(disagreeing)
    assert wide.half_width > narrow.half_width + 0.3
    spread = spread_over_seeds(disagreeing)
    assert spread["seed_sd"] == pytest.approx(1.0, abs=0.05)
    assert len(spread["per_seed"]) == 3
    assert spread_over_seeds(pairs)["seed_sd"] is None


def test_difference_needs_the_same_pairs_and_seeds():
    with pytest.raises(ValueError, match="same pairs"):
        paired_difference(np.zeros((2, 10)), np.zeros((1, 10)))
    with pytest.raises(ValueError, match="finite"):
        interval([1.0, float("nan")])
