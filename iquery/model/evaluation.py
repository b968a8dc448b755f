"""Evaluating a trained run on the fixed test pairs: the model, the unprocessed mixture and the
ideal ratio mask, by the paper's protocol (``iquery/model/metrics.py``, docs/method.md §5).

The checkpoint is read with ``torch.load(..., weights_only=True)`` and the model rebuilt from
its saved hyper-parameters; clip and frame settings come from the checkpoint too, so the test
clips are cut exactly as the training clips were.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

from iquery.model.metrics import (
    evaluate_pairs,
    example_indices,
    separate_examples,
    write_metrics,
    write_per_pair,
)
from iquery.model.separator import load_separator
from iquery.model.settings import SELECTION_NOTES
from iquery.model.shard_dataset import (
    ClipSpec,
    MixDataset,
    collate,
    for_classes,
    pairs_within,
    read_split_facts,
)
from iquery.model.variants import variant
from iquery.pipeline.core.errors import ConfigError
from iquery.pipeline.core.files import atomic_path, read_json
from iquery.pipeline.core.provenance import provenance
from iquery.pipeline.datasets.splits import read_pairs


def find_checkpoint(summary: str | Path, which: str) -> Path:
    """'best' or 'last' of the run whose ``train_summary.json`` is ``summary``, or a path."""
    if which not in ("best", "last"):
        path = Path(which)
        if not path.is_file():
            raise ConfigError(f"{path}: no such checkpoint")
        return path
    facts = read_json(summary, "train the run first")
    name = facts.get(f"{which}_checkpoint")
    if not name:
        raise ConfigError(f"{summary} names no {which} checkpoint; train the run again")
    path = Path(summary).parent / name
    if not path.is_file():
        raise ConfigError(f"{path}: checkpoint missing; train the run again")
    return path


def write_examples(path: Path, system, dataset, rows, rate: int, wanted: int, device: str) -> None:
    """Separate again ``wanted`` pairs spread over the model's SDR (``example_indices``),
    keeping what the report shows."""
    # No pair scored (all silent): show the first ones all the same, without a rank.
    chosen = example_indices(rows, wanted) or [(i, np.nan) for i in range(min(wanted, len(rows)))]
    picked = [i for i, _ in chosen]
    arrays = separate_examples(system, collate([dataset[i] for i in picked]), device=device)
    names = [[rows[i].get(k, "") for k in ("class_a", "vid_a", "class_b", "vid_b")] for i in picked]
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez_compressed(
            f,
            pair=np.array(picked),
            names=np.array(names, dtype=str),
            model_sdr=np.array([rows[i]["model_sdr"] for i in picked]),
            percentile=np.array([share for _, share in chosen]),
            audio_rate=np.array(rate),
            hop=np.array(system.hparams.hop),
            **arrays,
        )


def pair_dataset(system, shards: Path, pairs: Path) -> tuple[MixDataset, int, int]:
    """The fixed test pairs cut as the checkpoint's training clips were; the audio rate; and
    how many pairs were left out because the model does not know one of their classes."""
    spec = dict(system.hparams.data_spec)
    if not spec:
        raise ConfigError("the checkpoint lacks the data settings (data_spec)")
    try:
        facts = read_split_facts(shards)
        chosen = read_pairs(pairs)
    except (FileNotFoundError, ValueError) as err:
        raise ConfigError(str(err)) from err
    model_classes = list(spec["classes"])
    unknown = sorted(set(model_classes) - set(facts["classes"]))
    if unknown:
        raise ConfigError(
            f"{shards} lists classes {facts['classes']}, the model was trained on "
            f"{model_classes}: {unknown} are not in the shards"
        )
    # A model may know fewer classes than the dataset (some left out of its training), or
    # in another order (a class added by query expansion): pairs are scored by class name,
    # and pairs of a class the model does not know are left out (counted in the metrics).
    known = pairs_within(chosen, model_classes)
    left_out = len(chosen) - len(known)
    if not known:
        raise ConfigError(f"{pairs}: no pair of classes the model knows ({model_classes})")
    dataset = MixDataset(
        for_classes(facts["refs"], model_classes),
        spec=ClipSpec.from_settings(spec),
        frame_rate=spec["frame_rate"],
        pairs=known,
        use_motion=spec["use_motion"],
    )
    return dataset, facts["audio_rate"], left_out


def evaluate_run(
    summary: Path,
    shards: Path,
    pairs: Path,
    *,
    metrics: Path,
    per_pair: Path,
    examples: Path | None = None,
    wanted_examples: int = 0,
    checkpoint: str = "best",
    batch_size: int = 8,
    num_workers: int = 0,
    jobs: int = 1,
    device: str = "auto",
) -> dict:
    """Score a run's checkpoint on the test pairs; write the per-pair table and the metrics
    (with provenance), and optionally the examples the report shows."""
    path = find_checkpoint(summary, checkpoint)
    system = load_separator(path)
    dataset, rate, left_out = pair_dataset(system, shards, pairs)
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=batch_size, num_workers=num_workers, collate_fn=collate
    )
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    system = system.to(device)
    rows, result = evaluate_pairs(
        system, loader, system.front_end, jobs=jobs, device=torch.device(device)
    )
    spec = system.hparams.data_spec
    prov = provenance({})
    # Results carry the hash of the training settings that made the checkpoint.
    prov["config_hash"] = spec.get("config_hash") or "unknown"
    write_per_pair(per_pair, rows, prov)
    select_on = spec.get("select_on", "val")
    extra = {
        "run": str(Path(summary).parent) if Path(summary).name.endswith(".json") else None,
        "variant": system.hparams.variant,
        "label": variant(system.hparams.variant).label,
        "checkpoint": str(path),
        "train_config_hash": spec.get("config_hash"),
        "pairs_file": str(pairs),
        "selection": select_on,
        "selection_note": SELECTION_NOTES[select_on],
        "pairs_of_unknown_classes": left_out,
    }
    write_metrics(metrics, result, prov, **extra)
    if examples is not None and wanted_examples:
        write_examples(examples, system, dataset, rows, rate, wanted_examples, device)
    methods = result["methods"]
    print(
        f"evaluate: {result['scored']} pairs scored, {result['skipped']} skipped; SDR "
        + ", ".join(f"{m} {v['sdr']:.2f}" for m, v in methods.items()),
        file=sys.stderr,
    )
    return {"rows": rows, "summary": result}
