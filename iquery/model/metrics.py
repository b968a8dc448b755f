"""The paper's evaluation protocol on fixed test pairs (docs/method.md §5), with two reference rows.

Per pair (the centre clip of both videos, no augmentation):

* ``model``: sigmoid masks on the log-frequency grid (256 rows, or the run's freq_bins) →
  unwarped to 512 linear bins (binary masks then cut at 0.5) × mixture magnitude → iSTFT with
  the mixture phase, clipped to [-1, 1] (``SpectralFrontEnd.reconstruct``).
* ``mixture``: the unprocessed mixture as the estimate of both sources (the paper's SDR_mixture).
* ``irm``: the ideal ratio mask, i.e. the ground-truth masks on the same warped grid, clamped to
  [0, 1] and reconstructed exactly as the model's masks are. Clamped because no sigmoid mask can
  exceed 1, so this is the ceiling of the model's own output space; the targets themselves go up
  to 5 (where a source's magnitude exceeds the mixture's, from phase cancellation).

References are the sources as they entered the mixture (÷N where the mixture divides), truncated
to the iSTFT length (hop · (frames - 1), 65280 for MUSIC). A pair is skipped, for every row
alike so that all rows average the same pairs, when any reference or any estimate has
Σ|x| ≤ 1e-5 (mir_eval raises on silent signals). Scores: those of
``mir_eval.separation.bss_eval_sources`` with ``compute_permutation=False`` (computed for all rows
of a pair at once, ``iquery/model/bss_eval.py``); per pair the mean over the two sources of SDR,
SIR, SAR. Summary numbers are means over scored pairs (the published code averaged per-batch means,
which differs only when the last batch is partial).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch

from iquery.pipeline.core.files import write_text

METHODS = ("model", "mixture", "irm")
METRICS = ("sdr", "sir", "sar")
SILENCE = 1e-5
IRM_NOTE = "ground-truth ratio masks on the warped grid, clamped to [0, 1]"
# The bootstrap's own seed: fixed, so that the same per-pair scores give the same intervals.
BOOTSTRAP_SEED = 0


# ----------------------------------------------------------------------------------------------
# Scoring


def is_silent(x: np.ndarray) -> bool:
    return float(np.abs(x).sum()) <= SILENCE


def score_pair(refs: np.ndarray, estimates: dict[str, np.ndarray]) -> dict[str, dict] | None:
    """Scores of every method on one pair (means over the sources, and each source's SDR), or
    None when the silent-signal rule skips it. The methods share the references, so they are scored
    together (``iquery/model/bss_eval.py``: mir_eval's arithmetic, each matrix factorised once).
    """
    from iquery.model.bss_eval import bss_eval_shared  # scipy and mir_eval: only scoring needs them

    signals = [*refs, *(e for est in estimates.values() for e in est)]
    if any(is_silent(x) for x in signals):
        return None
    out = {}
    for method, (sdr, sir, sar) in bss_eval_shared(refs, estimates).items():
        out[method] = {m: float(np.mean(v)) for m, v in zip(METRICS, (sdr, sir, sar), strict=True)}
        out[method]["sdr_sources"] = [float(v) for v in sdr]
    return out


def _score_star(args: tuple) -> dict[str, dict] | None:
    return score_pair(*args)


# ----------------------------------------------------------------------------------------------
# Separation of a batch


@torch.no_grad()
def estimates_from(
    front_end,
    mixture,
    *,
    masks: torch.Tensor | None = None,
    methods: Sequence[str] = METHODS,
    threshold: float | None = None,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """References (B, N, L) and each method's estimates (B, N, L) as float64 arrays.

    ``mixture`` is the ``MixtureBatch`` of the batch; ``masks`` the model's sigmoid masks on the
    warped grid (needed for 'model'), cut at ``threshold`` when the model makes binary masks.
    """
    length = front_end.hop * (mixture.mix_mag.shape[-1] - 1)
    refs = mixture.sources[..., :length]
    n = refs.shape[1]
    out: dict[str, torch.Tensor] = {}
    for method in methods:
        if method == "model":
            if masks is None:
                raise ValueError("the 'model' row needs the model's masks")
            out[method] = front_end.reconstruct(
                masks.float(), mixture.mix_mag, mixture.mix_phase, threshold=threshold
            )
        elif method == "irm":
            ideal = mixture.gt_masks.clamp(0.0, 1.0)
            out[method] = front_end.reconstruct(ideal, mixture.mix_mag, mixture.mix_phase)
        elif method == "mixture":
            out[method] = mixture.mixture[:, None, :length].expand(-1, n, -1)
        else:
            raise ValueError(f"unknown method {method!r}; choose from {METHODS}")
    as_np = {k: v.double().cpu().numpy() for k, v in out.items()}
    return refs.double().cpu().numpy(), as_np


@torch.no_grad()
def separate_examples(system, batch: dict, *, device: torch.device | str = "cpu") -> dict:
    """Everything a report shows of a batch of pairs, as numpy arrays: the network's input
    (log1p of the warped mixture), predicted and true masks on the warped grid, and the
    waveforms of the mixture, the estimates and the references (same lengths as scored)."""
    system.eval()
    front_end = system.front_end.to(device)
    batch = {k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items()}
    with torch.autocast(device_type=torch.device(device).type, enabled=False):
        mixture = front_end(batch["audio"].float(), divide=bool(system.hparams.divide_mixture))
    masks = torch.sigmoid(system.mask_logits(batch, mixture).float())
    refs, ests = estimates_from(
        front_end, mixture, masks=masks, methods=("model", "irm"), threshold=system.threshold
    )
    length = refs.shape[-1]
    return {
        "net_input": mixture.net_input[:, 0].cpu().numpy().astype(np.float16),
        "pred_masks": masks.cpu().numpy().astype(np.float16),
        "gt_masks": mixture.gt_masks.cpu().numpy().astype(np.float16),
        "mixture": mixture.mixture[:, :length].cpu().numpy().astype(np.float32),
        "estimates": ests["model"].astype(np.float32),
        "irm_estimates": ests["irm"].astype(np.float32),
        "references": refs.astype(np.float32),
    }


def example_indices(rows: list[dict], wanted: int) -> list[tuple[int, float]]:
    """``wanted`` scored pairs that show the spread of the model's SDR: the pairs at the
    quantiles (i + 0.5) / wanted of its per-pair SDR (a quarter, ..., for 4), lowest first, as
    (pair index, percentile). Pairs picked by their place in the list instead showed mostly the
    worst separations of a run whose median pair was good."""
    scored = sorted(
        (row["model_sdr"], i)
        for i, row in enumerate(rows)
        if not row.get("skipped") and math.isfinite(row.get("model_sdr", math.nan))
    )
    if not scored or wanted <= 0:
        return []
    n = len(scored)
    places = sorted({min(n - 1, int((k + 0.5) * n / wanted)) for k in range(min(wanted, n))})
    return [(scored[p][1], 100.0 * p / n) for p in places]


def _pair_names(dataset, count: int) -> list[dict]:
    """Class and id of both videos of each pair, when the loader's dataset knows them."""
    pairs = getattr(dataset, "pairs", None)
    if not pairs:
        return [{} for _ in range(count)]
    return [{"class_a": a.cls, "vid_a": a.vid, "class_b": b.cls, "vid_b": b.vid} for a, b in pairs]


def _row(index: int, names: dict, scores: dict | None, methods: Sequence[str]) -> dict:
    """One pair's line: every method's means over the two sources, and each source's SDR (the
    per-class figures)."""
    row = {"pair": index, **names, "skipped": scores is None}
    for method in methods:
        s = scores[method] if scores is not None else None
        for metric in METRICS:
            row[f"{method}_{metric}"] = s[metric] if s else math.nan
        for k, label in enumerate("ab"):
            row[f"{method}_sdr_{label}"] = s["sdr_sources"][k] if s else math.nan
    return row


@torch.no_grad()
def evaluate_pairs(
    system,
    loader: Iterable[dict],
    front_end,
    *,
    divide_mixture: bool | None = None,
    methods: Sequence[str] | None = None,
    jobs: int = 1,
    device: torch.device | str | None = None,
) -> tuple[list[dict], dict]:
    """Score every pair the loader yields (in order); returns (per-pair rows, summary).

    ``system``: a ``Separator`` (or training's ``SeparationSystem``) or None (then only the
    mixture and IRM rows). The mixture divides by N when ``divide_mixture`` (default: the
    system's setting, else True). ``jobs`` > 1 scores pairs in that many processes (mir_eval is
    the slow part).
    """
    if methods is None:
        methods = METHODS if system is not None else ("mixture", "irm")
    methods = tuple(methods)
    if "model" in methods and system is None:
        raise ValueError("the 'model' row needs a system")
    if divide_mixture is None:
        divide_mixture = bool(system.hparams.divide_mixture) if system is not None else True
    if device is None:
        device = system.device if system is not None else torch.device("cpu")
    front_end = front_end.to(device)
    was_training = system is not None and system.training
    if system is not None:
        system.eval()

    # Scored batch by batch, so only one batch of waveforms is held at a time.
    pool = ProcessPoolExecutor(jobs) if jobs > 1 else None
    scores: list[dict | None] = []
    try:
        for batch in loader:
            batch = {k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items()}
            with torch.autocast(device_type=torch.device(device).type, enabled=False):
                mixture = front_end(batch["audio"].float(), divide=divide_mixture)
            masks = threshold = None
            if "model" in methods:
                masks = torch.sigmoid(system.mask_logits(batch, mixture).float())
                threshold = system.threshold
            refs, ests = estimates_from(
                front_end, mixture, masks=masks, methods=methods, threshold=threshold
            )
            work = [(refs[b], {m: ests[m][b] for m in methods}) for b in range(refs.shape[0])]
            scores += pool.map(_score_star, work) if pool else [score_pair(*w) for w in work]
    finally:
        if pool is not None:
            pool.shutdown()
        if was_training:
            system.train()
    names = _pair_names(getattr(loader, "dataset", None), len(scores))
    rows = [_row(i, names[i], s, methods) for i, s in enumerate(scores)]
    return rows, summarise(rows, methods)


def summarise(rows: list[dict], methods: Sequence[str]) -> dict:
    """Means and medians over the scored pairs, each mean with its 95 % bootstrap interval over
    the test videos (over the pairs only where the rows do not name their videos), the interval
    over the pairs only beside it, and the model's paired difference from the mixture
    (``iquery/model/intervals.py``)."""
    from iquery.model.intervals import (
        DRAWS,
        LEVEL,
        OVER_PAIRS,
        OVER_VIDEOS,
        TestSet,
        interval,
        paired_difference,
    )

    scored = [r for r in rows if not r["skipped"]]
    named = bool(scored) and all(r.get("vid_a") and r.get("vid_b") for r in scored)
    keys = ("class_a", "vid_a", "class_b", "vid_b")
    test = TestSet.of([[r[k] for k in keys] for r in scored]) if named else None
    summary = {
        "pairs": len(rows),
        "scored": len(scored),
        "skipped": len(rows) - len(scored),
        "test_videos": test.videos if test else None,
        "skip_rule": f"any reference or estimate with sum|x| <= {SILENCE:g}",
        "irm": IRM_NOTE,
        "bootstrap": {
            "over": OVER_VIDEOS if test else OVER_PAIRS,
            "draws": DRAWS,
            "level": LEVEL,
            "seed": BOOTSTRAP_SEED,
        },
        "methods": {},
    }
    for method in methods:
        entry = {}
        for metric in METRICS:
            values = np.array([r[f"{method}_{metric}"] for r in scored], dtype=np.float64)
            entry[metric] = float(values.mean()) if len(values) else math.nan
            entry[f"{metric}_median"] = float(np.median(values)) if len(values) else math.nan
            if not len(values):
                continue
            if test:
                figure = test.figure(
                    test.values([scored], f"{method}_{metric}"), seed=BOOTSTRAP_SEED
                )
                entry[f"{metric}_interval"] = [figure["low"], figure["high"]]
                entry[f"{metric}_interval_pairs_only"] = list(figure["pairs_only"].values())
            else:
                spread = interval(values, seed=BOOTSTRAP_SEED)
                entry[f"{metric}_interval"] = [spread.low, spread.high]
        summary["methods"][method] = entry
    if scored and "model" in methods and "mixture" in methods:
        summary["differences"] = {}
        for metric in ("sdr", "sir"):  # the mixture's SAR is rounding noise
            if test:
                model = test.values([scored], f"model_{metric}")
                mixture = test.values([scored], f"mixture_{metric}")
                diff, _ = test.difference(model, mixture, seed=BOOTSTRAP_SEED)
            else:
                diff = paired_difference(
                    [r[f"model_{metric}"] for r in scored],
                    [r[f"mixture_{metric}"] for r in scored],
                    seed=BOOTSTRAP_SEED,
                )
            summary["differences"][f"model-mixture_{metric}"] = diff.as_dict()
    return summary


# ----------------------------------------------------------------------------------------------
# Writers (the provenance comes from iquery.pipeline.core.provenance)


def _cell(value) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.4f}"
    return str(value)


def write_per_pair(path: str | Path, rows: list[dict], prov: dict) -> None:
    """One line per pair; every line carries the config hash, code version and packages."""
    packages = ";".join(f"{k}={v}" for k, v in prov["packages"].items())
    extra = {"config_hash": prov["config_hash"], "code_version": prov["code_version"]}
    extra["packages"] = packages
    columns = list(rows[0]) + list(extra) if rows else list(extra)
    lines = ["\t".join(columns)]
    for row in rows:
        lines.append("\t".join(_cell(v) for v in (row | extra).values()))
    write_text(path, "\n".join(lines) + "\n")


def write_metrics(path: str | Path, summary: dict, prov: dict, **extra: object) -> None:
    """The summary with its provenance (and anything else given) as JSON; NaN becomes null."""

    def clean(value):
        if isinstance(value, float) and math.isnan(value):
            return None
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [clean(v) for v in value]
        return value

    data = clean({**extra, **summary, **prov})
    write_text(path, json.dumps(data, indent=1, sort_keys=True) + "\n")
