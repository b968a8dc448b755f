"""Bootstrap intervals and paired differences (iquery/model/intervals.py): what they cover,
what they resolve, and that they are reproducible."""

from __future__ import annotations

import random

import numpy as np
import pytest

from iquery.model.intervals import (
    TestSet,
    TestVideos,
    describe_difference,
    drawn_videos,
    interval,
    paired_difference,
    rescaled_counts,
    spread_over_seeds,
    video_weights,
)
from iquery.pipeline.datasets.splits import balanced_pairs


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
    assert "cannot tell the two apart" in sentence and "iQuery better on" in sentence
    assert "other pairs of these same test videos (not other videos)" in sentence


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


# ----------------------------------------------------------------------------------------------
# Over test videos: pairs that share videos


def crossed_test_set(rng, *, classes=5, per_class=6, pairs=120, video_sd=2.0, source_sd=1.0):
    """A test set drawn as the demo's is: fixed classes (each with its own level), fresh videos
    within each class (each with its own effect, shared by every pair it is in), the demo's
    balanced pairs of videos of different classes, and a residual per source. Returns
    (per pair, per source in ``source_columns``' order, pair keys)."""
    level = np.linspace(-4.0, 4.0, classes)  # fixed: the same classes in every test set
    videos = [(f"c{c}", f"v{v}") for c in range(classes) for v in range(per_class)]
    effect = {key: rng.normal(0.0, video_sd) for key in videos}
    chosen = balanced_pairs(videos, pairs, random.Random(int(rng.integers(1 << 30))))
    keys = [(*a, *b) for a, b in chosen]
    sources = np.array(
        [
            level[int(v[0][1:])] + effect[v] + rng.normal(0.0, source_sd)
            for pair in chosen
            for v in pair
        ]
    )
    return (sources[0::2] + sources[1::2]) / 2, sources, keys


def test_over_videos_holds_the_mean_of_other_test_sets_where_over_pairs_does_not():
    # 200 fresh test sets of 30 videos and 120 pairs: the truth is the class levels' mean (0).
    # The interval over pairs treats 120 pairs as independent, but each video is in 8 of them,
    # so it is far too narrow; the one over videos holds the truth about 95 % of the time.
    rng = np.random.default_rng(11)
    held = {"videos": 0, "pairs": 0}
    widths = {"videos": [], "pairs": []}
    means = []
    for k in range(200):
        per_pair, _, keys = crossed_test_set(rng)
        means.append(per_pair.mean())
        figure = TestSet.of(keys).figure(per_pair, seed=k)
        for over, (low, high) in (
            ("videos", (figure["low"], figure["high"])),
            ("pairs", figure["pairs_only"].values()),
        ):
            held[over] += low <= 0.0 <= high
            widths[over].append(high - low)
    assert held["pairs"] / 200 < 0.8
    assert 0.9 <= held["videos"] / 200 <= 0.995
    # Not wider than needed: about the central 95 % range of the test sets' own means.
    spread_of_sets = np.subtract(*np.percentile(means, [97.5, 2.5]))
    assert 0.9 < np.mean(widths["videos"]) / spread_of_sets < 1.4


def test_what_the_product_weights_count_too_often_is_taken_off():
    """Where a figure's spread is all the pairs' own (no video effects), weighting a pair by the
    product of its videos' weights counts that spread several times over: the uncorrected
    interval is about twice as wide as the spread of fresh test sets. The correction takes off
    its first-order excess (what is left keeps it on the wide side) and the interval holds."""
    rng = np.random.default_rng(5)
    held, widths = {True: 0, False: 0}, {True: [], False: []}
    for k in range(60):
        per_pair, _, keys = crossed_test_set(rng, video_sd=0.0, source_sd=2.0)
        videos = TestVideos.of_pairs(keys)
        for corrected in (True, False):
            spread = interval(per_pair, videos=videos, seed=k, corrected=corrected, draws=4000)
            held[corrected] += spread.holds(0.0)
            widths[corrected].append(spread.high - spread.low)
    # Fresh test sets' means: 120 pairs of noise of variance (2^2 + 2^2) / 4 each.
    fresh = 2 * 1.96 * np.sqrt(2.0 / 120)
    assert np.mean(widths[False]) / fresh > 1.7
    assert 1.0 < np.mean(widths[True]) / fresh < 1.6
    assert held[True] / 60 >= 0.9


def test_classes_are_fixed_so_their_levels_do_not_widen_the_interval():
    # Classes 40 dB apart and little else varying: each class keeps its share of the sources
    # in every draw, so the interval stays narrow; videos drawn across classes would not.
    rng = np.random.default_rng(3)
    per_pair, per_source, keys = crossed_test_set(rng, video_sd=0.0, source_sd=0.1)
    spread = interval(per_source * 5, videos=TestVideos.of_sources(keys), draws=2000)
    assert spread.half_width < 0.3
    assert spread.mean == pytest.approx(per_pair.mean() * 5)
    one_class = [("all", f"{a}/{b}", "all", f"{c}/{d}") for a, b, c, d in keys]
    across = interval(per_source * 5, videos=TestVideos.of_sources(one_class), draws=2000)
    assert across.half_width > 5 * spread.half_width


def test_rescaled_weights_have_mean_and_variance_one_and_keep_each_class_whole():
    rng = np.random.default_rng(0)
    for n in (2, 3, 6, 25):
        w = rescaled_counts(rng, n, 20_000)
        assert w.mean() == pytest.approx(1.0, abs=0.01)
        assert w.var() == pytest.approx(1.0, rel=0.05)
        assert np.allclose(w.sum(axis=1), n)  # a class keeps its number of videos
    assert np.all(rescaled_counts(rng, 1, 5) == 1)


def test_pairs_are_weighted_by_both_their_videos_and_single_video_classes_pooled():
    keys = [("a", "1", "b", "1"), ("a", "2", "b", "1"), ("a", "1", "c", "1"), ("d", "1", "a", "2")]
    videos = TestVideos.of_pairs(keys)
    assert videos.count == 5 and videos.videos_of("a") == 2 and videos.videos_of("b") == 1
    assert videos.single_video_classes() == ["b", "c", "d"]
    # One group for class a, one for b, c and d pooled: no video is left out of the draws.
    assert sorted(len(g) for g in videos.groups) == [2, 3]
    # A pair is half of each of its classes; a source all of its own.
    assert np.allclose(videos.membership.sum(axis=1), 1.0)
    assert videos.membership.max() == 0.5
    sources = TestVideos.of_sources(keys)
    assert sources.membership.max() == 1.0 and len(sources.first) == 8
    weights = video_weights(sources, 4000, seed=1)
    # Both sources of a pair rest on the same two videos, so they weigh the same.
    assert np.array_equal(weights[:, 0::2], weights[:, 1::2])
    # A column weighs the product of two independent weights of mean 1 and variance 1 ...
    assert weights.mean() == pytest.approx(1.0, abs=0.05)
    # ... and every pair weighs the product of its two videos' weights: pairs 0 and 1 share
    # video b/1, and the draws that leave it out leave both pairs out with it.
    drawn = drawn_videos(videos, 4000, seed=2)
    pair_weights = video_weights(videos, 4000, seed=2)
    assert np.array_equal(pair_weights, drawn[:, videos.first] * drawn[:, videos.second])
    b1 = videos.names.index("b/1")
    assert b1 in (videos.first[0], videos.second[0]) and b1 in (videos.first[1], videos.second[1])
    without_b1 = drawn[:, b1] == 0
    assert 0.4 < without_b1.mean() < 0.5  # 2 draws from a group of 3 miss it (2/3)^2 of the time
    assert np.all(pair_weights[without_b1][:, :2] == 0)
    # A class keeps its number of videos in every draw.
    assert np.allclose(drawn[:, [videos.names.index("a/1"), videos.names.index("a/2")]].sum(1), 2)


def test_seeds_cross_with_videos():
    rng = np.random.default_rng(4)
    values, _, keys = crossed_test_set(rng)
    videos = TestVideos.of_pairs(keys)
    same = np.stack([values, values, values])
    apart = same + np.array([[-1.0], [0.0], [1.0]])
    narrow = interval(same, videos=videos)
    wide = interval(apart, videos=videos)
    assert narrow.over == "test videos"
    assert wide.half_width > narrow.half_width + 0.3
    diff = paired_difference(apart, same, videos=videos)
    assert diff.seeds == 3 and diff.videos == videos.count
    assert "other test videos of these classes and other training seeds" in describe_difference(
        "a", "b", diff
    )


def test_a_difference_resolved_over_pairs_need_not_be_over_videos():
    # Method a is 0.4 dB better on average, but how much better depends on the video: over the
    # pairs the difference looks resolved; over the videos it is not.
    rng = np.random.default_rng(8)
    _, _, keys = crossed_test_set(rng)
    videos = TestVideos.of_pairs(keys)
    gain = {name: rng.normal(0.4, 2.0) for name in videos.names}
    b = rng.normal(5.0, 1.0, size=len(keys))
    a = (
        b
        + np.array([(gain[f"{ca}/{va}"] + gain[f"{cb}/{vb}"]) / 2 for ca, va, cb, vb in keys])
        + rng.normal(0, 0.05, size=len(keys))
    )
    over_pairs = paired_difference(a, b)
    over_videos = paired_difference(a, b, videos=videos)
    assert over_videos.high - over_videos.low > 1.8 * (over_pairs.high - over_pairs.low)
    assert over_videos.low < 0 < over_videos.high
