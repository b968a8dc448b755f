"""A linear probe of motion tokens: does a token tell how loud its stretch of the video is, and
how often the sound rises there (note onsets)?

Each token has a span of seconds; its targets are measured on the video's sound over that span:
``loudness`` (RMS in dB) and ``rises`` (the positive steps of a 20-ms loudness curve, in dB,
summed over the span: onsets). Both are taken *within* each video (the video's own mean taken
off the targets and the tokens alike), so that an instrument's look, which names its class and
so its usual loudness, earns nothing: only what changes with the sound over time does. A ridge
regression is fitted on the training videos' tokens (its strength chosen by leave-videos-out
cross-validation on them) and scored by R² on other videos, with an interval that draws those
videos again.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TARGETS = ("loudness", "rises")
STEP_SECONDS = 0.02  # the loudness curve's step, for rises
FLOOR_DB = -80.0
ALPHAS = (0.1, 1.0, 10.0, 100.0, 1000.0, 10000.0)


def _db(x: np.ndarray) -> np.ndarray:
    return np.maximum(10 * np.log10(np.maximum(x, 1e-12)), FLOOR_DB)


def span_targets(sound: np.ndarray, rate: int, spans: np.ndarray) -> np.ndarray:
    """(N, 2): each span's loudness (dB) and rises (dB) in ``sound`` (L,) float at ``rate``."""
    step = max(1, round(STEP_SECONDS * rate))
    frames = len(sound) // step
    energy = (sound[: frames * step].astype(np.float64).reshape(frames, step) ** 2).mean(axis=1)
    curve = _db(energy)
    rising = np.concatenate([[0.0], np.maximum(np.diff(curve), 0.0)])
    out = np.zeros((len(spans), 2))
    for i, (start, end) in enumerate(np.asarray(spans, dtype=np.float64)):
        lo = min(int(start * rate), len(sound))
        hi = min(max(int(end * rate), lo + 1), len(sound))
        out[i, 0] = _db(np.mean(sound[lo:hi].astype(np.float64) ** 2)) if hi > lo else FLOOR_DB
        out[i, 1] = rising[int(start / STEP_SECONDS) : max(int(end / STEP_SECONDS), 1)].sum()
    return out


def within(values: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """``values`` (N, ...) less the mean of their group (video)."""
    out = np.asarray(values, dtype=np.float64).copy()
    for g in np.unique(groups):
        out[groups == g] -= out[groups == g].mean(axis=0)
    return out


@dataclass
class Ridge:
    """A ridge regression on standardised features."""

    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    alpha: float

    @classmethod
    def fit(cls, x: np.ndarray, y: np.ndarray, alpha: float) -> Ridge:
        mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-6
        z = (x - mean) / scale
        gram = z.T @ z + alpha * np.eye(z.shape[1])
        return cls(mean, scale, np.linalg.solve(gram, z.T @ (y - y.mean(axis=0))), alpha)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean) / self.scale) @ self.weights


def r_squared(y: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """R² of each target column (targets taken within videos: their mean is 0)."""
    return 1 - ((y - predicted) ** 2).sum(axis=0) / (y**2).sum(axis=0)


def choose_alpha(x: np.ndarray, y: np.ndarray, groups: np.ndarray, folds: int = 5) -> float:
    """The ridge strength with the best mean R² over held-out folds of videos."""
    videos = np.unique(groups)
    fold_of = {v: i % folds for i, v in enumerate(videos)}
    fold = np.array([fold_of[g] for g in groups])
    scores = []
    for alpha in ALPHAS:
        held = []
        for k in range(folds):
            model = Ridge.fit(x[fold != k], y[fold != k], alpha)
            held.append(r_squared(y[fold == k], model.predict(x[fold == k])).mean())
        scores.append(np.mean(held))
    return ALPHAS[int(np.argmax(scores))]


@dataclass
class ProbeData:
    """Tokens (N, C), targets (N, 2) and the video each token belongs to, all within videos."""

    tokens: np.ndarray
    targets: np.ndarray
    groups: np.ndarray

    @classmethod
    def of(cls, videos: list[tuple[np.ndarray, np.ndarray]]) -> ProbeData:
        """From (tokens, targets) per video."""
        groups = np.concatenate([np.full(len(t), i) for i, (t, _) in enumerate(videos)])
        tokens = np.concatenate([t for t, _ in videos]).astype(np.float64)
        targets = np.concatenate([y for _, y in videos])
        return cls(within(tokens, groups), within(targets, groups), groups)


def probe_scores(
    train: ProbeData, held: ProbeData, draws: int = 2000, seed: int = 0
) -> dict[str, np.ndarray]:
    """The probe fitted on ``train``, scored on ``held``: R² per target, and its R² on each of
    ``draws`` draws of the held-out videos with replacement (rows: draws)."""
    alpha = choose_alpha(train.tokens, train.targets, train.groups)
    model = Ridge.fit(train.tokens, train.targets, alpha)
    predicted = model.predict(held.tokens)
    rng = np.random.default_rng(seed)
    videos = np.unique(held.groups)
    rows = [np.flatnonzero(held.groups == v) for v in videos]
    drawn = np.empty((draws, held.targets.shape[1]))
    for d in range(draws):
        picked = np.concatenate([rows[i] for i in rng.integers(0, len(videos), len(videos))])
        drawn[d] = r_squared(held.targets[picked], predicted[picked])
    return {
        "r2": r_squared(held.targets, predicted),
        "draws": drawn,
        "alpha": np.array(model.alpha),
    }
