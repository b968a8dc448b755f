"""Train iQuery, its no-motion ablation or the Sound-of-Pixels baseline on a dataset's shards.

    python -m workflow_scripts.train --shards-dir data/demo/shards --out results/demo/iquery \
        --config-json '{"variant": "iquery", "model": "tiny", "epochs": 5}' [--select-on val]

``--config-json`` is a JSON object or the path of a JSON file; keys not given take the defaults
in ``DEFAULTS`` (the paper's MUSIC settings). The run folder gets ``checkpoints/last.ckpt`` (every
epoch) and ``checkpoints/best-epochNNN.ckpt`` (highest ``val/sdr``), ``logs/`` (CSV, and
TensorBoard when installed), ``config.json`` and ``train_summary.json``. Rerunning the same
command resumes from ``last.ckpt`` and gives the same weights as an uninterrupted run (on the
CPU); only ``epochs`` and the runtime keys (``num_workers``, ``max_minutes``) may change between
a run and its resumption. A folder holding a run with other settings or other shards is refused,
or with ``--on-change restart`` (what the workflow passes) cleared and trained afresh.

Model selection: ``--select-on val`` (default) scores fixed pairs drawn from the validation
split every epoch; ``--select-on test`` scores the test pairs instead, as the published code did
(the chosen checkpoint has then seen the test set: its test numbers are optimistic, and the
outputs say so).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import importlib.util
import json
import random
import shutil
import sys
import time
import warnings
from datetime import timedelta
from pathlib import Path

import h5py

DEFAULTS: dict = {
    "variant": "iquery",  # iquery | nomotion | sop
    "model": "paper",  # paper | tiny (ModelConfig() or ModelConfig.tiny())
    "model_overrides": {},  # ModelConfig fields; num_queries defaults to classes + 1
    "visual_weights": None,  # local ImageNet resnet18 state dict (.pth or .safetensors); None:
    # random init (the workflow fetches a URL given in config.yaml to a local file first)
    "batch_size": 8,  # per device (the paper: 8 per GPU × 8 GPUs)
    "val_batch_size": None,  # None: batch_size
    "epochs": 100,
    "dup": 40,  # training list repeated per epoch (dup_trainset)
    "clip_samples": 65535,
    "num_frames": 3,
    "frame_stride": 1,
    "frame_size": 224,
    "divide_mixture": True,  # MUSIC: sources ÷ N; AVE: False
    "n_fft": 1022,
    "hop": 256,
    "lr_sound": 1e-4,
    "lr_transformer": 1e-4,
    "weight_decay": 1e-4,
    "lr_steps": [30, 50],
    "transformer_step": 80,  # MUSIC/MUSIC-21 80, AVE 40
    "val_pairs_per_video": 2,  # validation pairs per val video (--select-on val)
    "num_val": 256,  # at most this many validation pairs (the paper: first 256)
    "seed": 1234,
    "num_workers": 4,
    "devices": 1,
    "accelerator": "auto",
    "strategy": "auto",
    "precision": None,  # None: bf16-mixed on CUDA, 32-true on CPU
    "sync_batchnorm": False,  # the paper's DataParallel kept per-GPU BatchNorm statistics
    "deterministic": None,  # None: True on CPU (CUDA has no deterministic upsampling backward)
    "threads": None,  # torch intra-op threads per process; None leaves torch's default
    "log_every_n_steps": 10,
    "num_sanity_val_steps": 1,
    "max_minutes": None,  # also settable with --max-minutes
}
# Keys that may differ between a run and its resumption without changing what it computes
# (epochs only extends it); they stay out of the config hash, except epochs.
RUNTIME_KEYS = ("num_workers", "max_minutes")
RESUMABLE_KEYS = ("epochs", *RUNTIME_KEYS)
SELECTION_NOTES = {
    "val": "checkpoint chosen by SDR on fixed pairs of the validation split",
    "test": (
        "checkpoint chosen by SDR on the TEST pairs, as the published code did; "
        "test results of this run are optimistic"
    ),
}


class ConfigError(ValueError):
    """A bad setting; the message names it."""


def load_config(text: str) -> dict:
    """Defaults updated with a JSON object given inline or as a file path."""
    source = text
    if not text.lstrip().startswith("{"):
        try:
            source = Path(text).read_text()
        except OSError as err:
            raise ConfigError(f"--config-json: neither a JSON object nor a file: {err}") from err
    try:
        given = json.loads(source)
    except json.JSONDecodeError as err:
        raise ConfigError(f"--config-json: invalid JSON ({err})") from err
    if not isinstance(given, dict):
        raise ConfigError("--config-json must be a JSON object")
    unknown = sorted(set(given) - set(DEFAULTS))
    if unknown:
        raise ConfigError(f"unknown setting(s) {unknown}; known: {sorted(DEFAULTS)}")
    config = json.loads(json.dumps(DEFAULTS)) | given
    if config["variant"] not in ("iquery", "nomotion", "sop"):
        raise ConfigError(f"variant {config['variant']!r}: use iquery, nomotion or sop")
    if config["model"] not in ("paper", "tiny"):
        raise ConfigError(f"model {config['model']!r}: use paper or tiny")
    return config


# ----------------------------------------------------------------------------------------------
# Data


def shard_facts(index_path: Path) -> dict:
    """Class order, frame rate and motion width of a split, from its first shard."""
    from model.shard_dataset import read_shard_index

    if not index_path.is_file():
        raise ConfigError(f"{index_path}: no shard index; run the shards stage first")
    refs = read_shard_index(index_path)
    if not refs:
        raise ConfigError(f"{index_path}: the split holds no videos")
    with h5py.File(refs[0].shard, "r") as h5:
        facts = {
            "classes": json.loads(h5.attrs["classes"]),
            "frame_rate": float(h5.attrs["frame_rate"]),
            "config_hash": str(h5.attrs.get("config_hash", "")),
        }
        group = h5["videos"][refs[0].cls][refs[0].vid]
        facts["motion_dim"] = int(group["motion"].shape[1]) if "motion" in group else None
        facts["audio_rate"] = int(group.attrs["rate"])
    facts["refs"] = refs
    return facts


def read_pairs(path: Path) -> list[tuple[tuple[str, str], tuple[str, str]]]:
    from workflow_scripts.manifest import read_tsv

    if not path.is_file():
        raise ConfigError(f"{path}: no test pairs; run the splits stage first")
    return [((r["class_a"], r["vid_a"]), (r["class_b"], r["vid_b"])) for r in read_tsv(path)]


def selection_pairs(shards_dir: Path, select_on: str, config: dict):
    """(refs, pairs) scored every epoch: validation pairs drawn once with the seed, or the test
    pairs (the paper's choice); at most ``num_val``, the first ones as the paper took."""
    from workflow_scripts.make_splits import generate_pairs

    facts = shard_facts(shards_dir / f"{select_on}.json")
    refs = facts["refs"]
    if select_on == "test":
        pairs = read_pairs(shards_dir.parent / "splits" / "test_pairs.tsv")
    else:
        keys = [(r.cls, r.vid) for r in refs]
        pairs = generate_pairs(keys, config["val_pairs_per_video"], random.Random(config["seed"]))
    if not pairs:
        raise ConfigError(f"{select_on} split: no pairs of two classes to validate on")
    return facts, refs, pairs[: config["num_val"]]


def clip_spec(config: dict):
    from model.shard_dataset import ClipSpec

    return ClipSpec(
        clip_samples=config["clip_samples"],
        num_frames=config["num_frames"],
        frame_stride=config["frame_stride"],
        frame_size=config["frame_size"],
    )


def model_config(config: dict, facts: dict):
    from model.iquery import ModelConfig

    overrides = dict(config["model_overrides"])
    fields = {f.name for f in dataclasses.fields(ModelConfig)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ConfigError(f"model_overrides: unknown field(s) {unknown}; known: {sorted(fields)}")
    overrides.setdefault("num_queries", len(facts["classes"]) + 1)
    if config["visual_weights"]:
        weights = Path(config["visual_weights"])
        if not weights.is_file():
            raise ConfigError(f"visual_weights: {weights} not found")
        overrides.setdefault("visual_weights", str(weights))
    if config["variant"] != "iquery":
        overrides.setdefault("motion_dim", None)  # no motion branch: say so in the summary
    else:
        if facts["motion_dim"] is None:
            raise ConfigError("variant iquery needs shards with motion; use variant nomotion")
        given = overrides.setdefault("motion_dim", facts["motion_dim"])
        if given != facts["motion_dim"]:
            raise ConfigError(f"motion_dim {given} but the shards hold {facts['motion_dim']}")
    base = ModelConfig() if config["model"] == "paper" else ModelConfig.tiny()
    cfg = dataclasses.replace(base, **overrides)
    if cfg.num_queries < len(facts["classes"]):
        raise ConfigError(f"num_queries {cfg.num_queries} < {len(facts['classes'])} classes")
    frames = 1 + config["clip_samples"] // config["hop"]
    if frames % 2**cfg.unet_depth:
        step = 2**cfg.unet_depth
        raise ConfigError(
            f"clip_samples {config['clip_samples']} with hop {config['hop']} gives {frames} "
            f"STFT frames, not a multiple of 2^unet_depth = {step}: use clip_samples = "
            f"m * {config['hop']} - 1 with m a multiple of {step} (the paper: 65535)"
        )
    return cfg


# ----------------------------------------------------------------------------------------------
# Trainer pieces


def _step_timer():
    import lightning.pytorch as pl

    class StepTimer(pl.Callback):
        """Mean wall time per training batch in this process, the first batch left out."""

        def __init__(self) -> None:
            self.total, self.count, self._start, self._seen = 0.0, 0, 0.0, 0

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
            self._start = time.perf_counter()

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
            self._seen += 1
            if self._seen > 1:  # the first batch pays for warm-up
                self.total += time.perf_counter() - self._start
                self.count += 1

        @property
        def mean(self) -> float | None:
            return self.total / self.count if self.count else None

    return StepTimer()


def resolve_runtime(config: dict) -> dict:
    """Precision and determinism for the device actually used."""
    import torch

    cuda = torch.cuda.is_available() and config["accelerator"] in ("auto", "gpu", "cuda")
    precision = config["precision"] or ("bf16-mixed" if cuda else "32-true")
    if not cuda and "16" in str(precision):
        print(f"train: precision {precision} needs CUDA here; using 32-true", file=sys.stderr)
        precision = "32-true"
    deterministic = config["deterministic"]
    if deterministic is None:
        deterministic = not cuda
    return {"cuda": cuda, "precision": precision, "deterministic": deterministic}


def make_loggers(out: Path) -> list:
    from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

    loggers = [CSVLogger(save_dir=str(out), name="logs")]
    if importlib.util.find_spec("tensorboard") or importlib.util.find_spec("tensorboardX"):
        loggers.append(TensorBoardLogger(save_dir=str(out), name="tensorboard"))
    return loggers


def data_identity(shards_dir: Path, select_on: str) -> str:
    """Hash of the shard indexes a run reads: they name the shard files, the videos and the
    preprocessing settings, so rebuilt shards with other contents make another run."""
    digest = hashlib.sha256()
    for split in sorted({"train", select_on}):
        digest.update((shards_dir / f"{split}.json").read_bytes())
    return digest.hexdigest()[:16]


RUN_FILES = ("checkpoints", "logs", "tensorboard", "config.json", "train_summary.json")


def check_resume(out: Path, config: dict, *, on_change: str = "error") -> None:
    """A run folder holds one run: refuse to resume under different settings or data, or (with
    ``on_change='restart'``, what the workflow uses) clear the old run and start afresh."""
    saved_path = out / "config.json"
    if not saved_path.is_file():
        return
    saved = json.loads(saved_path.read_text())
    changed = sorted(
        k
        for k in set(saved) | set(config)
        if k not in RESUMABLE_KEYS and saved.get(k) != config.get(k)
    )
    if not changed:
        return
    if on_change != "restart":
        raise ConfigError(
            f"{out} holds a run with different settings ({', '.join(changed)}); "
            "use another --out, delete that folder, or pass --on-change restart"
        )
    print(
        f"train: {out}: settings changed ({', '.join(changed)}); starting afresh", file=sys.stderr
    )
    for name in RUN_FILES:
        path = out / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def _write_json(path: Path, data: dict) -> None:
    from workflow_scripts.records import write_json

    write_json(path, data)


# ----------------------------------------------------------------------------------------------


def train(
    shards_dir: Path,
    out: Path,
    config: dict,
    *,
    select_on: str,
    cluster_env: str = "lightning",
    on_change: str = "error",
) -> dict:
    import lightning.pytorch as pl
    import torch
    from lightning.pytorch.callbacks import ModelCheckpoint, Timer, TQDMProgressBar
    from lightning.pytorch.plugins.environments import LightningEnvironment, SLURMEnvironment

    from model.evaluate import config_hash, provenance
    from model.shard_dataset import MixDataset
    from model.system import SeparationData, SeparationSystem

    if config["threads"]:
        torch.set_num_threads(int(config["threads"]))
    facts = shard_facts(shards_dir / "train.json")
    val_facts, val_refs, val_pairs = selection_pairs(shards_dir, select_on, config)
    if val_facts["classes"] != facts["classes"]:
        raise ConfigError(f"{select_on} shards list other classes than the train shards")
    cfg = model_config(config, facts)
    runtime = resolve_runtime(config)
    identity = {"select_on": select_on, "data": data_identity(shards_dir, select_on)}
    hashed = {k: v for k, v in config.items() if k not in RUNTIME_KEYS} | identity
    run_hash = config_hash(hashed)
    check_resume(out, config | identity, on_change=on_change)

    pl.seed_everything(config["seed"], workers=True)
    spec = clip_spec(config)
    use_motion = config["variant"] == "iquery"
    train_set = MixDataset(
        facts["refs"],
        spec=spec,
        frame_rate=facts["frame_rate"],
        seed=config["seed"],
        dup=config["dup"],
        use_motion=use_motion,
    )
    val_set = MixDataset(
        val_refs,
        spec=spec,
        frame_rate=facts["frame_rate"],
        seed=config["seed"],
        pairs=val_pairs,
        use_motion=use_motion,
    )
    data_spec = {
        "clip_samples": spec.clip_samples,
        "num_frames": spec.num_frames,
        "frame_stride": spec.frame_stride,
        "frame_size": spec.frame_size,
        "frame_rate": facts["frame_rate"],
        "audio_rate": facts["audio_rate"],
        "classes": facts["classes"],
        "use_motion": use_motion,
        "select_on": select_on,
        "config_hash": run_hash,
    }
    system = SeparationSystem(
        cfg,
        variant=config["variant"],
        lr_sound=config["lr_sound"],
        lr_transformer=config["lr_transformer"],
        weight_decay=config["weight_decay"],
        lr_steps=config["lr_steps"],
        transformer_step=config["transformer_step"],
        divide_mixture=config["divide_mixture"],
        n_fft=config["n_fft"],
        hop=config["hop"],
        data_spec=data_spec,
    )
    data = SeparationData(
        train_set,
        val_set,
        batch_size=config["batch_size"],
        val_batch_size=config["val_batch_size"],
        num_workers=config["num_workers"],
        seed=config["seed"],
    )

    ckpt_dir = out / "checkpoints"
    checkpoint = ModelCheckpoint(
        dirpath=str(ckpt_dir),
        filename="best-epoch{epoch:03d}",
        auto_insert_metric_name=False,
        monitor="val/sdr",
        mode="max",
        save_top_k=1,
        save_last=True,
        save_on_train_epoch_end=True,
    )
    step_timer = _step_timer()
    callbacks = [checkpoint, step_timer, TQDMProgressBar(refresh_rate=10)]
    max_minutes = config["max_minutes"]
    timer = None
    if max_minutes:
        # Checked at epoch ends only, so every checkpoint is an end-of-epoch one.
        timer = Timer(duration=timedelta(minutes=max_minutes), interval="epoch")
        callbacks.append(timer)
    environment = SLURMEnvironment() if cluster_env == "slurm" else LightningEnvironment()
    trainer = pl.Trainer(
        accelerator=config["accelerator"],
        devices=config["devices"],
        strategy=config["strategy"],
        precision=runtime["precision"],
        max_epochs=config["epochs"],
        callbacks=callbacks,
        logger=make_loggers(out),
        plugins=[environment],
        deterministic=runtime["deterministic"],
        sync_batchnorm=config["sync_batchnorm"],
        use_distributed_sampler=False,  # SeparationData splits across ranks itself
        log_every_n_steps=config["log_every_n_steps"],
        num_sanity_val_steps=config["num_sanity_val_steps"],
        enable_progress_bar=True,
        default_root_dir=str(out),
    )
    last = ckpt_dir / "last.ckpt"
    resumed = str(last) if last.is_file() else None
    if trainer.is_global_zero:
        _write_json(out / "config.json", config | identity)
    started = time.time()
    with warnings.catch_warnings():
        # The frozen visual backbone stays in eval mode on purpose (model/visual.py).
        warnings.filterwarnings("ignore", message=".*module\\(s\\) in eval mode.*")
        # A resumed run writes into its own checkpoint folder by design.
        warnings.filterwarnings("ignore", message=".*exists and is not empty.*")
        trainer.fit(system, datamodule=data, ckpt_path=resumed, weights_only=True)

    best = checkpoint.best_model_path
    score = checkpoint.best_model_score
    summary = {
        "run": str(out),
        "variant": config["variant"],
        "config": config,
        "config_hash": run_hash,
        "model_config": dataclasses.asdict(cfg),
        "selection": {
            "on": select_on,
            "monitor": "val/sdr",
            "pairs": len(val_pairs),
            "note": SELECTION_NOTES[select_on],
        },
        "best_checkpoint": (str(Path(best).resolve().relative_to(out.resolve())) if best else None),
        "best_val_sdr": float(score) if score is not None else None,
        "last_checkpoint": str(last.relative_to(out)) if last.is_file() else None,
        "epochs_completed": trainer.current_epoch,
        "optimizer_steps": trainer.global_step,
        "batches_per_epoch": len(train_set) // (config["batch_size"] * trainer.world_size),
        "world_size": trainer.world_size,
        "stopped_by_time": bool(timer is not None and trainer.current_epoch < config["epochs"]),
        "resumed_from": resumed,
        "seconds_this_invocation": round(time.time() - started, 2),
        "seconds_per_batch": step_timer.mean,
        "runtime": runtime,
        "parameters": {
            "total": sum(p.numel() for p in system.model.parameters()),
            "trainable": sum(p.numel() for p in system.model.parameters() if p.requires_grad),
        },
        "data": {
            "classes": facts["classes"],
            "frame_rate": facts["frame_rate"],
            "train_videos": len(facts["refs"]),
            "train_samples_per_epoch": len(train_set),
            "shards_config_hash": facts["config_hash"],
        },
        "provenance": provenance(hashed),
    }
    if trainer.is_global_zero:
        _write_json(out / "train_summary.json", summary)
    return summary


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shards-dir", required=True, type=Path, help="data/<dataset>/shards")
    parser.add_argument("--out", required=True, type=Path, help="results/<dataset>/<run>")
    parser.add_argument("--config-json", default="{}", help="JSON object or file; see DEFAULTS")
    parser.add_argument(
        "--select-on",
        choices=["val", "test"],
        default="val",
        help="pairs that pick the best checkpoint (test = the paper's choice)",
    )
    parser.add_argument("--max-minutes", type=float, default=None, help="time budget of the run")
    parser.add_argument(
        "--cluster-env",
        choices=["lightning", "slurm"],
        default="lightning",
        help="slurm: take ranks from SLURM (srun with one task per device)",
    )
    parser.add_argument(
        "--on-change",
        choices=["error", "restart"],
        default="error",
        help="when --out holds a run with other settings or data: stop, or delete it and restart",
    )
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config_json)
        if args.max_minutes is not None:
            config["max_minutes"] = args.max_minutes
        return train(
            args.shards_dir,
            args.out,
            config,
            select_on=args.select_on,
            cluster_env=args.cluster_env,
            on_change=args.on_change,
        )
    except ConfigError as err:
        raise SystemExit(f"train: {err}") from err


if __name__ == "__main__":
    main()
