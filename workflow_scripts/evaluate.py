"""Evaluate a trained run on the fixed test pairs: the model, the unprocessed mixture and the
ideal ratio mask, by the paper's protocol (``model/evaluate.py``).

    python -m workflow_scripts.evaluate --run results/demo/iquery --shards-dir data/demo/shards \
        [--checkpoint best|last|PATH] [--pairs data/demo/splits/test_pairs.tsv] [--jobs 2]

Writes ``per_pair.tsv`` and ``metrics.json`` into the run folder (or ``--out``). The checkpoint is
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
    args = parser.parse_args(argv)

    import torch

    from model.evaluate import evaluate_pairs, provenance, write_metrics, write_per_pair
    from model.shard_dataset import ClipSpec, MixDataset, collate
    from model.system import load_system
    from workflow_scripts.train import ConfigError, read_pairs, shard_facts

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
        spec=ClipSpec(
            clip_samples=spec["clip_samples"],
            num_frames=spec["num_frames"],
            frame_stride=spec["frame_stride"],
            frame_size=spec["frame_size"],
        ),
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
    methods = summary["methods"]
    print(
        f"evaluate: {summary['scored']} pairs scored, {summary['skipped']} skipped; SDR "
        + ", ".join(f"{m} {v['sdr']:.2f}" for m, v in methods.items()),
        file=sys.stderr,
    )
    return {"rows": rows, "summary": summary}


if __name__ == "__main__":
    main()
