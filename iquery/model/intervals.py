"""How sure a test-set figure is: seeded bootstrap intervals and paired differences.

A figure is a mean over the fixed test pairs (and over training seeds, where a run was trained
with several). Its 95 % interval comes from a percentile bootstrap. What the bootstrap draws
again decides what the interval speaks for:

* **over test videos** (``TestVideos`` given; the default wherever the pairs name their videos):
  the test videos are drawn again, within each class, and every pair is weighted by the
  product of its two videos' weights (a pigeonhole bootstrap for a design in which every pair
  crosses two videos). A video that is hard is hard in every pair it is in, so this is the
  interval that says what *another set of test videos of these classes* would give. Each class
  keeps its share of the figure in every draw (a pair counts half in each of its classes; a
  class's own figure is over its sources): a new test set has the same classes.
  The product weights count what varies from pair to pair three times over; the interval is
  narrowed by that excess, which the pairs themselves measure (``pair_noise_share``).
  Within a class the weights are rescaled (Rao and Wu, 1988): ``n - 1`` of the class's ``n``
  videos are drawn with replacement and each draw counts ``n / (n - 1)``, so that a class of
  few videos does not understate its own spread by ``(n - 1) / n``. Classes of one test video
  are pooled into one group, which is drawn again in the same way.
* **over pairs only** (no ``TestVideos``): the pairs are drawn again with replacement. It says
  what another draw of pairs *from these same videos* would give, and is narrower than the
  test set's real chance; it is kept only where it is labelled as such.

Several training seeds are crossed with either: the seeds are drawn again too, independently of
the videos or pairs, so that the interval carries how training happened to go as well (over
videos, the seeds are rescaled in the same way as a class's videos).

Two methods scored on the same pairs are compared pair by pair: the difference of their
per-pair values is bootstrapped the same way (a paired interval, much narrower than the two
intervals side by side would suggest, because a hard pair is hard for both), and the pairs each
one wins are counted. A difference is *resolved* when its interval leaves out zero.

Every draw comes from ``numpy.random.default_rng(seed)``: the same values and seed give the same
interval on any machine, and every figure of one test set is drawn from the same draws of its
videos. docs/method.md §5.1 says why this design; docs/intervals.md measures how often it holds.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

LEVEL = 0.95
DRAWS = 10_000
# Draws made at once: bounds memory to about CHUNK x (seeds + videos + columns) floats.
CHUNK = 1_000
OVER_VIDEOS = "test videos"
# Below this share of draws that keep some pair, the test set has too few videos to draw them
# again, and a figure gets no interval over them.
MIN_DRAWN = 0.99
OVER_PAIRS = "pairs"


@dataclass(frozen=True)
class TestVideos:
    """The videos behind a row of figures. Each column (one source of a pair, or a whole pair)
    rests on two videos (the source's own and its partner's, or the pair's two) and belongs to
    one class (a source) or half to each of two (a pair). The bootstrap draws the videos again
    within their groups (one per class; the classes of a single video pooled), and keeps each
    class's share of the figure: the test set has the same classes, each with its share of the
    sources, whatever its videos."""

    __test__ = False  # not a test class, whatever pytest makes of its name

    first: np.ndarray  # (columns,) video index
    second: np.ndarray  # (columns,) video index
    membership: np.ndarray  # (columns, classes): each column's share of each class
    groups: tuple[np.ndarray, ...]  # video indices drawn together
    names: tuple[str, ...]  # "class/vid" of each video
    classes: tuple[str, ...]  # the class of each video

    @staticmethod
    def _index(pairs: Sequence[Sequence[str]]):
        videos: dict[tuple[str, str], int] = {}
        for class_a, vid_a, class_b, vid_b in pairs:
            videos.setdefault((class_a, vid_a), len(videos))
            videos.setdefault((class_b, vid_b), len(videos))
        by_class: dict[str, list[int]] = {}
        for (name, _), i in videos.items():
            by_class.setdefault(name, []).append(i)
        groups = [np.array(v) for v in by_class.values() if len(v) > 1]
        single = [v[0] for v in by_class.values() if len(v) == 1]
        if single:
            groups.append(np.array(single))
        return videos, list(by_class), tuple(groups)

    @classmethod
    def _make(cls, videos, class_names, groups, first, second, member) -> TestVideos:
        membership = np.zeros((len(first), len(class_names)))
        for j, shares in enumerate(member):
            for name, share in shares:
                membership[j, class_names.index(name)] += share
        return cls(
            first=np.array(first, dtype=np.intp),
            second=np.array(second, dtype=np.intp),
            membership=membership,
            groups=groups,
            names=tuple(f"{c}/{v}" for c, v in videos),
            classes=tuple(c for c, _ in videos),
        )

    @classmethod
    def of_pairs(cls, pairs: Sequence[Sequence[str]]) -> TestVideos:
        """One column per pair, from ``(class_a, vid_a, class_b, vid_b)`` per pair."""
        videos, class_names, groups = cls._index(pairs)
        first = [videos[(p[0], p[1])] for p in pairs]
        second = [videos[(p[2], p[3])] for p in pairs]
        member = [((p[0], 0.5), (p[2], 0.5)) for p in pairs]
        return cls._make(videos, class_names, groups, first, second, member)

    @classmethod
    def of_sources(cls, pairs: Sequence[Sequence[str]]) -> TestVideos:
        """Two columns per pair, its first source and then its second (``source_columns``
        lays values out so), each belonging to its own class."""
        videos, class_names, groups = cls._index(pairs)
        first, second, member = [], [], []
        for p in pairs:
            a, b = videos[(p[0], p[1])], videos[(p[2], p[3])]
            first += [a, b]
            second += [b, a]
            member += [((p[0], 1.0),), ((p[2], 1.0),)]
        return cls._make(videos, class_names, groups, first, second, member)

    def take(self, columns: Sequence[int]) -> TestVideos:
        """The same videos behind a subset of the columns (say, the sources of one class)."""
        columns = np.asarray(columns, dtype=np.intp)
        membership = self.membership[columns]
        return TestVideos(
            self.first[columns],
            self.second[columns],
            membership[:, membership.sum(axis=0) > 0],
            self.groups,
            self.names,
            self.classes,
        )

    @property
    def count(self) -> int:
        return len(self.names)

    def videos_of(self, name: str) -> int:
        """How many test videos class ``name`` has."""
        return sum(1 for c in self.classes if c == name)

    def single_video_classes(self) -> list[str]:
        return sorted(c for c in set(self.classes) if self.videos_of(c) == 1)


def source_columns(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """(seeds, pairs) values of each pair's first and second source -> (seeds, 2 x pairs) in the
    order of ``TestVideos.of_sources``."""
    first, second = np.atleast_2d(first), np.atleast_2d(second)
    out = np.empty((first.shape[0], 2 * first.shape[1]))
    out[:, 0::2], out[:, 1::2] = first, second
    return out


def rescaled_counts(rng: np.random.Generator, n: int, size: int) -> np.ndarray:
    """(size, n) weights of mean 1 and variance 1: ``n - 1`` draws with replacement from ``n``,
    each counting ``n / (n - 1)`` (Rao and Wu's rescaling); all ones when ``n`` is 1."""
    if n == 1:
        return np.ones((size, 1))
    drawn = rng.integers(0, n, size=(size, n - 1))
    counts = (drawn[:, :, None] == np.arange(n)).sum(axis=1)
    return counts * (n / (n - 1))


@functools.lru_cache(maxsize=16)
def _drawn_videos(groups: tuple[tuple[int, ...], ...], count: int, draws: int, seed: int):
    """(draws, videos) weights of every video in every draw. The same videos and seed give the
    same draws, so every figure of a table is drawn from the same test sets (and they are made
    once, not once per figure)."""
    rng = np.random.default_rng(seed)
    weights = np.ones((draws, count))
    for group in groups:
        weights[:, list(group)] = rescaled_counts(rng, len(group), draws)
    weights.flags.writeable = False
    return weights


def _video_key(videos: TestVideos) -> tuple:
    return tuple(tuple(int(i) for i in g) for g in videos.groups), videos.count


def drawn_videos(videos: TestVideos, draws: int, seed: int = 0) -> np.ndarray:
    """(draws, videos): every test video's weight in each draw (read only)."""
    return _drawn_videos(*_video_key(videos), draws, seed)


def video_weights(videos: TestVideos, draws: int, seed: int = 0) -> np.ndarray:
    """(draws, columns): each column's weight in each draw, the product of its two videos'."""
    drawn = drawn_videos(videos, draws, seed)
    return drawn[:, videos.first] * drawn[:, videos.second]


@dataclass(frozen=True)
class Interval:
    """A mean and its bootstrap interval (``over``: what was drawn again)."""

    mean: float
    low: float
    high: float
    over: str = OVER_PAIRS

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2

    @property
    def defined(self) -> bool:
        return math.isfinite(self.low) and math.isfinite(self.high)

    def holds(self, value: float) -> bool:
        return self.low <= value <= self.high

    def as_dict(self) -> dict:
        return _json_safe(asdict(self))


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
    over: str = OVER_PAIRS
    videos: int | None = None

    @property
    def resolved(self) -> bool:
        """The interval leaves out zero: the test set tells the two apart."""
        return self.low > 0 or self.high < 0

    @property
    def defined(self) -> bool:
        return math.isfinite(self.low) and math.isfinite(self.high)

    def as_dict(self) -> dict:
        return _json_safe(asdict(self)) | {"resolved": self.resolved}


def _json_safe(entry: dict) -> dict:
    """NaN (an interval that could not be drawn) as None, which JSON can hold."""
    return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in entry.items()}


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


def _check_videos(grid: np.ndarray, videos: TestVideos | None) -> None:
    if videos is not None and len(videos.first) != grid.shape[1]:
        raise ValueError(
            f"bootstrap: {grid.shape[1]} columns of values but {len(videos.first)} of videos"
        )


def _over_pairs(grid: np.ndarray, rng: np.random.Generator, size: int) -> np.ndarray:
    """Pairs drawn again with replacement, seeds too (each independently)."""
    n_seeds, n_pairs = grid.shape
    pairs = rng.integers(0, n_pairs, size=(size, n_pairs))
    per_seed = grid[:, pairs].mean(axis=2)  # (seeds, size): each seed over the drawn pairs
    if n_seeds == 1:
        return per_seed[0]
    seeds = rng.integers(0, n_seeds, size=(size, n_seeds))
    return per_seed[seeds, np.arange(size)[:, None]].mean(axis=1)


def _over_videos(grid: np.ndarray, videos: TestVideos, weights: np.ndarray) -> np.ndarray:
    """Means over columns weighted by both their videos' ``weights`` (size, videos), each class
    keeping its share: (size, seeds)."""
    columns = weights[:, videos.first] * weights[:, videos.second]  # as video_weights
    member = videos.membership  # (columns, classes)
    share = member.sum(axis=0) / member.sum()
    total = columns @ member  # (size, classes): each class's weight in the draw
    per_seed = np.empty((len(weights), grid.shape[0]))
    with np.errstate(invalid="ignore", divide="ignore"):
        for s, row in enumerate(grid):
            per_class = (columns @ (row[:, None] * member)) / total  # NaN: a class kept nothing
            per_seed[:, s] = per_class @ share
    return per_seed


def bootstrap_means(
    values, *, videos: TestVideos | None = None, draws: int = DRAWS, seed: int = 0
) -> np.ndarray:
    """The mean of ``values`` (seeds, columns) under ``draws`` resamplings: of the test videos
    when ``videos`` is given, else of the columns; crossed with the seeds when there are
    several. A draw in which no column keeps any weight (possible only for a handful of columns)
    is NaN."""
    grid = _as_grid(values)
    _check_videos(grid, videos)
    out = np.empty(draws, dtype=np.float64)
    if videos is None:
        rng = np.random.default_rng(seed)
        for start in range(0, draws, CHUNK):
            size = min(CHUNK, draws - start)
            out[start : start + size] = _over_pairs(grid, rng, size)
        return out
    drawn = drawn_videos(videos, draws, seed)
    n_seeds = grid.shape[0]
    # The seeds' draws come from a stream of their own, beside the videos'.
    seed_weights = rescaled_counts(np.random.default_rng([seed, 1]), n_seeds, draws)
    for start in range(0, draws, CHUNK):
        stop = min(start + CHUNK, draws)
        per_seed = _over_videos(grid, videos, drawn[start:stop])
        out[start:stop] = (per_seed * seed_weights[start:stop]).sum(axis=1) / n_seeds
    return out


def interval(
    values,
    *,
    videos: TestVideos | None = None,
    level: float = LEVEL,
    draws: int = DRAWS,
    seed: int = 0,
    corrected: bool = True,
) -> Interval:
    """The mean of ``values`` (columns, or seeds x columns) and its percentile bootstrap
    interval: over the test videos when ``videos`` is given (narrowed by what the product
    weights count too often, unless not ``corrected``), else over the columns."""
    grid = _as_grid(values)
    means = bootstrap_means(grid, videos=videos, draws=draws, seed=seed)
    over = OVER_PAIRS if videos is None else OVER_VIDEOS
    finite_means = means[np.isfinite(means)]
    mean = float(grid.mean())
    if len(finite_means) < MIN_DRAWN * len(means):
        # So few videos that most draws leave no pair at all: no interval over them.
        return Interval(mean, math.nan, math.nan, over)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(finite_means, [tail, 100 - tail])
    if videos is not None and corrected:
        # Narrowed by what the product weights count three times over (see pair_noise_share).
        keep = math.sqrt(1 - pair_noise_share(grid, finite_means, videos))
        low, high = mean - keep * (mean - low), mean + keep * (high - mean)
    return Interval(mean, float(low), float(high), over)


def pair_noise_share(grid: np.ndarray, over_videos: np.ndarray, videos: TestVideos) -> float:
    """The share of the variance drawn over the videos that is each column's own noise counted
    twice too often. Weighting a column by the product of its two videos' weights (each of mean
    and variance 1) counts what varies from column to column three times: once through each
    video and once through the product; the videos' effects are counted right, through the
    videos. What varies from column to column, the classes' levels taken out (each class keeps
    its share in every draw), is the variance of one column over their number; twice that
    comes off, and at least that much is kept, as no test set of these videos could be surer
    than its columns. docs/method.md §5.1 derives it; docs/intervals.md measures it."""
    total = float(np.var(over_videos))
    n = grid.shape[1]
    member = videos.membership
    if total <= 0 or n <= member.shape[1]:
        return 0.0
    values = grid.mean(axis=0)
    levels, *_ = np.linalg.lstsq(member, values, rcond=None)
    rest = values - member @ levels
    own = float(rest @ rest) / (n - np.linalg.matrix_rank(member)) / n
    return min(2 * own, max(total - own, 0.0)) / total


def paired_difference(
    a,
    b,
    *,
    videos: TestVideos | None = None,
    level: float = LEVEL,
    draws: int = DRAWS,
    seed: int = 0,
    tie: float = 0.0,
) -> Difference:
    """``a - b`` for two methods scored on the same pairs (same shapes: seeds x pairs, seed k of
    one beside seed k of the other), with its interval over the test videos when ``videos`` is
    given, else over the pairs. Wins compare each pair's mean over the seeds; values within
    ``tie`` of each other are a tie."""
    grid_a, grid_b = _as_grid(a), _as_grid(b)
    if grid_a.shape != grid_b.shape:
        raise ValueError(
            f"paired difference: shapes {grid_a.shape} and {grid_b.shape} differ; compare "
            "runs scored on the same pairs with the same seeds"
        )
    diff = grid_a - grid_b
    spread = interval(diff, videos=videos, level=level, draws=draws, seed=seed)
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
        over=spread.over,
        videos=None if videos is None else videos.count,
    )


# ----------------------------------------------------------------------------------------------
# A test set's figures: every interval over its videos, the one over its pairs beside it


def _number(value) -> float:
    return math.nan if value in (None, "") else float(value)


@dataclass(frozen=True)
class TestSet:
    """The pairs a table averages and the videos behind them: a figure is read per pair (its
    mean, the wins, both intervals); a class's figure per source (its sources' own SDR)."""

    __test__ = False  # not a test class, whatever pytest makes of its name

    keys: tuple[tuple[str, str, str, str], ...]
    pairs: TestVideos
    sources: TestVideos

    @classmethod
    def of(cls, keys: Sequence[Sequence[str]]) -> TestSet:
        """From ``(class_a, vid_a, class_b, vid_b)`` per pair."""
        keys = tuple(tuple(k) for k in keys)
        return cls(keys, TestVideos.of_pairs(keys), TestVideos.of_sources(keys))

    @property
    def videos(self) -> int:
        return self.pairs.count

    @staticmethod
    def values(rows: Sequence[Sequence[dict]], column: str) -> np.ndarray:
        """(seeds, pairs) of ``column`` (``model_sdr``, say) from each seed's per-pair rows."""
        return np.array([[_number(r.get(column)) for r in seed] for seed in rows])

    def figure(self, per_pair, *, seed: int = 0) -> dict:
        """A mean over the pairs (and seeds), its interval over the test videos, and the one
        over the pairs only, labelled."""
        spread = interval(per_pair, videos=self.pairs, seed=seed)
        pairs_only = interval(per_pair, seed=seed)
        return _json_safe(
            {"mean": pairs_only.mean, "low": spread.low, "high": spread.high, "over": spread.over}
        ) | {"pairs_only": {"low": pairs_only.low, "high": pairs_only.high}}

    def difference(self, a, b, *, seed: int = 0) -> tuple[Difference, Difference]:
        """``a - b`` (seeds x pairs each) over the test videos, and over the pairs only."""
        return (
            paired_difference(a, b, videos=self.pairs, seed=seed),
            paired_difference(a, b, seed=seed),
        )


def spread_over_seeds(values) -> dict:
    """Each seed's mean over the pairs, and their standard deviation (ddof 1; None with one)."""
    grid = _as_grid(values)
    per_seed = grid.mean(axis=1)
    sd = float(per_seed.std(ddof=1)) if len(per_seed) > 1 else None
    return {"per_seed": [float(v) for v in per_seed], "seed_sd": sd}


def generalises_over(diff: Difference) -> str:
    """What the interval speaks for, in words: 'other test videos of these classes and other
    training seeds', say."""
    if diff.over == OVER_VIDEOS:
        what = "other test videos of these classes"
    else:
        what = "other pairs of these same test videos (not other videos)"
    return what + (" and other training seeds" if diff.seeds > 1 else "")


def describe_difference(name_a: str, name_b: str, diff: Difference, unit: str = "dB") -> str:
    """One plain sentence: what the interval says about ``a - b``, and what it speaks for."""
    over = generalises_over(diff)
    tested = f"{diff.videos} test videos" if diff.videos else f"{diff.pairs} test pairs"
    if not diff.defined:
        return (
            f"{name_a} − {name_b}: {diff.mean:+.2f} {unit} on these {diff.pairs} pairs; these "
            f"{tested} are too few to draw them again, so there is no interval over them and "
            "nothing can be said of other videos."
        )
    if diff.resolved:
        # Said from the side of the one above: "B is above A by 0.45 dB (0.15 to 0.76)".
        sign = 1 if diff.mean > 0 else -1
        better, worse = (name_a, name_b) if sign > 0 else (name_b, name_a)
        low, high = sorted((sign * diff.low, sign * diff.high))
        won = diff.wins_a if sign > 0 else diff.wins_b
        verdict = (
            "resolved"
            if diff.over == OVER_VIDEOS
            else "resolved for these videos only: the interval does not draw them again"
        )
        return (
            f"{better} is above {worse} by {sign * diff.mean:.2f} {unit} (95 % interval "
            f"{low:.2f} to {high:.2f} over {over}; {better} better on {won} of {diff.pairs} "
            f"pairs): {verdict}."
        )
    wins = f"{name_a} better on {diff.wins_a} of {diff.pairs} pairs"
    span = f"{diff.mean:+.2f} {unit}, 95 % interval {diff.low:+.2f} to {diff.high:+.2f}"
    return (
        f"{name_a} − {name_b}: {span} over {over} ({wins}): the interval holds zero, so "
        f"these {tested} cannot tell the two apart."
    )


def finite(value: float | None) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))
