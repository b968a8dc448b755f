"""Evaluate a trained run on the fixed test pairs: the model, the unprocessed mixture and the
ideal ratio mask, by the paper's protocol (``model/evaluate.py``).

    python -m workflow_scripts.evaluate --run results/demo/iquery --shards-dir data/demo/shards \
        [--checkpoint best|last|PATH] [--pairs data/demo/splits/test_pairs.tsv] [--jobs 2]

Writes ``per_pair.tsv`` and ``metrics.json`` into the run folder (or ``--out``), and with
``--examples K`` also ``examples.npz``: masks, spectrograms and waveforms of K test pairs spread
over the list, which the report shows. The checkpoint is
read with ``torch.load(..., weights_only=True)`` and the model rebuilt from its saved
hyper-parameters; clip and frame settings come from the checkpoint too, so the test clips are
cut exactly as the training clips were.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def find_checkpoint(run: Path, which: str) -> Path:
    """'best' (from train_summary.json), 'last', or a path."""
    if which not in ("best", "last"):
        path = Path(which)
        if not path.is_file():
            raise SystemExit(f"evaluate: {path}: no such checkpoint")
        return path
    if which == "last":
        path = run / "checkpoints" / "last.ckpt"
    else:
        summary_path = run / "train_summary.json"
        if not summary_path.is_file():
            raise SystemExit(f"evaluate: {summary_path} missing; train the run first")
        best = json.loads(summary_path.read_text()).get("best_checkpoint")
        if not best:
            raise SystemExit(f"evaluate: {summary_path} names no best checkpoint")
        path = run / best
    if not path.is_file():
        raise SystemExit(f"evaluate: {path}: checkpoint missing")
    return path


def write_examples(path: Path, system, dataset, rows, rate: int, wanted: int, device: str) -> None:
    """Separate ``wanted`` pairs spread over the list again, keeping what the report shows."""
    import numpy as np

    from model.evaluate import example_indices, separate_examples
    from model.shard_dataset import collate
    from workflow_scripts.records import atomic_path

    picked = example_indices(len(dataset), wanted)
    arrays = separate_examples(system, collate([dataset[i] for i in picked]), device=device)
    names = [[rows[i].get(k, "") for k in ("class_a", "vid_a", "class_b", "vid_b")] for i in picked]
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(
                f,
                pair=np.array(picked),
                names=np.array(names, dtype=str),
                model_sdr=np.array([rows[i]["model_sdr"] for i in picked]),
                audio_rate=np.array(rate),
                hop=np.array(system.hparams.hop),
                **arrays,
            )


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", required=True, type=Path, help="results/<dataset>/<run>")
    parser.add_argument("--shards-dir", required=True, type=Path, help="data/<dataset>/shards")
    parser.add_argument("--checkpoint", default="best", help="best, last or a .ckpt path")
    parser.add_argument("--pairs", type=Path, help="default: <shards-dir>/../splits/test_pairs.tsv")
    parser.add_argument("--split", default="test", help="shards holding the paired videos")
    parser.add_argument("--out", type=Path, help="default: the run folder")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--num-workers", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=1, help="processes scoring with mir_eval")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    parser.add_argument("--examples", type=int, default=0, help="pairs kept for the report")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    args = parser.parse_args(argv)

    import torch

    from model.evaluate import evaluate_pairs, provenance, write_metrics, write_per_pair

    if args.threads:
        torch.set_num_threads(args.threads)
    from model.shard_dataset import MixDataset, collate
    from model.system import load_system
    from workflow_scripts.train import ConfigError, clip_spec, read_pairs, shard_facts

    path = find_checkpoint(args.run, args.checkpoint)
    system = load_system(path)
    spec = dict(system.hparams.data_spec)
    if not spec:
        raise SystemExit(f"evaluate: {path} lacks the data settings (data_spec)")
    pairs_path = args.pairs or args.shards_dir.parent / "splits" / "test_pairs.tsv"
    try:
        facts = shard_facts(args.shards_dir / f"{args.split}.json")
        pairs = read_pairs(pairs_path)
    except ConfigError as err:
        raise SystemExit(f"evaluate: {err}") from err
    if facts["classes"] != spec["classes"]:
        raise SystemExit(
            f"evaluate: {args.split} shards list classes {facts['classes']}, "
            f"the model was trained on {spec['classes']}"
        )
    dataset = MixDataset(
        facts["refs"],
        spec=clip_spec(spec),
        frame_rate=spec["frame_rate"],
        pairs=pairs,
        use_motion=spec["use_motion"],
    )
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=args.batch_size, num_workers=args.num_workers, collate_fn=collate
    )
    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    system = system.to(device)
    rows, summary = evaluate_pairs(
        system, loader, system.front_end, jobs=args.jobs, device=torch.device(device)
    )
    select_on = spec.get("select_on", "val")
    prov = provenance({})
    # Results carry the hash of the training settings that made the checkpoint.
    prov["config_hash"] = spec.get("config_hash") or "unknown"
    out = args.out or args.run
    write_per_pair(out / "per_pair.tsv", rows, prov)
    extra = {
        "run": str(args.run),
        "variant": system.hparams.variant,
        "checkpoint": str(path),
        "train_config_hash": spec.get("config_hash"),
        "pairs_file": str(pairs_path),
        "selection": select_on,
        "selection_note": (
            "checkpoint chosen on the test pairs (the paper's protocol): optimistic"
            if select_on == "test"
            else "checkpoint chosen on validation pairs; test pairs unseen in selection"
        ),
    }
    write_metrics(out / "metrics.json", summary, prov, **extra)
    if args.examples:
        rate = facts["audio_rate"]
        write_examples(out / "examples.npz", system, dataset, rows, rate, args.examples, device)
    methods = summary["methods"]
    print(
        f"evaluate: {summary['scored']} pairs scored, {summary['skipped']} skipped; SDR "
        + ", ".join(f"{m} {v['sdr']:.2f}" for m, v in methods.items()),
        file=sys.stderr,
    )
    return {"rows": rows, "summary": summary}


if __name__ == "__main__":
    main()
