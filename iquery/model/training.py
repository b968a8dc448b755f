"""A training run: from a dataset's shards and a run's settings to checkpoints and a summary.

The run folder (``iquery.pipeline.core.layout.RunFolder``) gets ``checkpoints/last.ckpt`` (every
epoch) and
``checkpoints/best-epochNNN.ckpt`` (highest ``val/sdr``), ``logs/`` (CSV, and TensorBoard when
installed), ``config.json`` and ``train_summary.json``. Training again into the same folder
resumes from ``last.ckpt`` and gives the same weights as an uninterrupted run (on the CPU); only
``epochs`` and the runtime keys may change between a run and its resumption. A folder holding a
run with other settings or other shards is refused, or with ``on_change='restart'`` cleared.

Model selection: ``select_on='val'`` scores fixed pairs drawn from the validation split every
epoch; ``'test'`` scores the test pairs instead, as the published code did (the chosen
checkpoint has then seen the test set: its test numbers are optimistic, and the outputs say so).
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import random
import shutil
import sys
import time
import warnings
from datetime import timedelta
from pathlib import Path

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import ModelCheckpoint, Timer, TQDMProgressBar
from lightning.pytorch.plugins.environments import LightningEnvironment, SLURMEnvironment

from iquery.model.iquery import ModelConfig
from iquery.model.settings import RESUMABLE_KEYS, RUNTIME_KEYS, SELECTION_NOTES, TrainSettings
from iquery.model.shard_dataset import (
    ClipSpec,
    MixDataset,
    for_classes,
    pairs_within,
    read_split_facts,
)
from iquery.model.system import SeparationData, SeparationSystem
from iquery.model.variants import variant
from iquery.pipeline.core.errors import ConfigError
from iquery.pipeline.core.files import read_json, write_json
from iquery.pipeline.core.layout import RunFolder
from iquery.pipeline.core.provenance import digest, provenance
from iquery.pipeline.datasets.splits import generate_pairs, read_pairs

# ----------------------------------------------------------------------------------------------
# Data and model from the settings


def split_facts(index: str | Path) -> dict:
    try:
        return read_split_facts(index)
    except (FileNotFoundError, ValueError) as err:
        raise ConfigError(str(err)) from err


def selection_pairs(index: Path, select_on: str, settings: TrainSettings, pairs: Path | None):
    """(facts, pairs) scored every epoch: validation pairs drawn once with the seed, or the
    test pairs (the paper's choice); at most ``num_val``, the first ones as the paper took."""
    facts = split_facts(index)
    if select_on == "test":
        if pairs is None:
            raise ConfigError("selecting on the test split needs its pairs file")
        chosen = read_pairs(pairs)
    else:
        keys = [(r.cls, r.vid) for r in facts["refs"]]
        rng = random.Random(settings.seed)
        chosen = generate_pairs(keys, settings.val_pairs_per_video, rng)
    if not chosen:
        raise ConfigError(f"{select_on} split: no pairs of two classes to validate on")
    return facts, chosen[: settings.num_val]


def without_classes(excluded: list[str], facts: dict, val_facts: dict, val_pairs: list):
    """Train and selection data without the ``excluded`` classes: the model then has one
    query per remaining class, in the shards' order (a class can be added later by query
    expansion, ``iquery/model/expansion.py``)."""
    unknown = sorted(set(excluded) - set(facts["classes"]))
    if unknown:
        raise ConfigError(f"exclude_classes: {unknown} not among the classes {facts['classes']}")
    classes = [c for c in facts["classes"] if c not in excluded]
    kept_pairs = pairs_within(val_pairs, classes)
    if not kept_pairs:
        raise ConfigError("exclude_classes leaves no selection pair")
    return (
        facts | {"classes": classes, "refs": for_classes(facts["refs"], classes)},
        val_facts | {"classes": classes, "refs": for_classes(val_facts["refs"], classes)},
        kept_pairs,
    )


def model_config(settings: TrainSettings, facts: dict) -> ModelConfig:
    """The network's sizes: the paper's (or the tiny ones) with the run's overrides, one query
    per class plus ``spare_queries``, and the motion width the shards hold."""
    overrides = dict(settings.model_overrides)
    fields = {f.name for f in dataclasses.fields(ModelConfig)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ConfigError(f"model_overrides: unknown field(s) {unknown}; known: {sorted(fields)}")
    overrides["num_queries"] = len(facts["classes"]) + settings.spare_queries
    if settings.visual_weights:
        weights = Path(settings.visual_weights)
        if not weights.is_file():
            raise ConfigError(f"visual_weights: {weights} not found")
        overrides.setdefault("visual_weights", str(weights))
    if not variant(settings.variant).motion:
        overrides.setdefault("motion_dim", None)  # no motion branch: say so in the summary
    else:
        if facts["motion_dim"] is None:
            raise ConfigError("variant iquery needs shards with motion; use variant nomotion")
        given = overrides.setdefault("motion_dim", facts["motion_dim"])
        if given != facts["motion_dim"]:
            raise ConfigError(f"motion_dim {given} but the shards hold {facts['motion_dim']}")
    base = ModelConfig() if settings.model == "paper" else ModelConfig.tiny()
    cfg = dataclasses.replace(base, **overrides)
    frames = 1 + settings.clip_samples // settings.hop
    if frames % 2**cfg.unet_depth:
        step = 2**cfg.unet_depth
        raise ConfigError(
            f"clip_samples {settings.clip_samples} with hop {settings.hop} gives {frames} "
            f"STFT frames, not a multiple of 2^unet_depth = {step}: use clip_samples = "
            f"m * {settings.hop} - 1 with m a multiple of {step} (the paper: 65535)"
        )
    if settings.freq_bins % 2**cfg.unet_depth:
        raise ConfigError(
            f"freq_bins {settings.freq_bins} is not a multiple of 2^unet_depth = "
            f"{2**cfg.unet_depth}: the U-Net halves both axes at every level"
        )
    return cfg


def resolve_runtime(settings: TrainSettings) -> dict:
    """Precision and determinism for the device actually used."""
    cuda = torch.cuda.is_available() and settings.accelerator in ("auto", "gpu", "cuda")
    precision = settings.precision or ("bf16-mixed" if cuda else "32-true")
    if not cuda and "16" in str(precision):
        print(f"train: precision {precision} needs CUDA here; using 32-true", file=sys.stderr)
        precision = "32-true"
    deterministic = settings.deterministic
    if deterministic is None:
        deterministic = not cuda
    return {"cuda": cuda, "precision": precision, "deterministic": deterministic}


def data_identity(indexes: list[Path]) -> str:
    """Hash of the shard indexes a run reads: they name the shard files, the videos and the
    preprocessing settings, so rebuilt shards with other contents make another run."""
    hasher = hashlib.sha256()
    for index in sorted(set(indexes)):
        hasher.update(Path(index).read_bytes())
    return hasher.hexdigest()[:16]


def check_resume(run: RunFolder, settings: dict, *, on_change: str = "error") -> None:
    """A run folder holds one run: refuse to resume under different settings or data, or (with
    ``on_change='restart'``, what the workflow uses) clear the old run and start afresh."""
    if not Path(run.settings).is_file():
        return
    saved = read_json(run.settings, f"delete {run.path} to train afresh")
    resumable = set(RESUMABLE_KEYS)
    if settings.get("schedule") == "cosine":
        resumable.discard("epochs")  # the cosine's length: more epochs make another run
    changed = sorted(
        k
        for k in set(saved) | set(settings)
        if k not in resumable and saved.get(k) != settings.get(k)
    )
    if not changed:
        return
    if on_change != "restart":
        raise ConfigError(
            f"{run.path} holds a run with different settings ({', '.join(changed)}); "
            "use another run folder, delete that one, or pass --on-change restart"
        )
    print(
        f"train: {run.path}: settings changed ({', '.join(changed)}); starting afresh",
        file=sys.stderr,
    )
    for name in run.training_files():
        path = Path(name)
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


# ----------------------------------------------------------------------------------------------
# Trainer pieces


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


class Progress(pl.Callback):
    """Logs, with each validation, how much training it follows: ``progress/batches`` (training
    batches so far) and ``progress/train_seconds`` (wall time of training and validation so
    far), both carried across a resume in the checkpoint, so that the report can draw
    validation SDR against steps and time."""

    def __init__(self) -> None:
        self.before, self._started = 0.0, None

    def on_fit_start(self, trainer, pl_module) -> None:
        self._started = time.perf_counter()

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking or self._started is None:
            return
        optimizers = max(1, len(trainer.optimizers))
        seconds = self.before + time.perf_counter() - self._started
        pl_module.log("progress/batches", float(trainer.global_step // optimizers))
        pl_module.log("progress/train_seconds", seconds)

    def state_dict(self) -> dict:
        elapsed = time.perf_counter() - self._started if self._started is not None else 0.0
        return {"seconds": self.before + elapsed}

    def load_state_dict(self, state_dict: dict) -> None:
        self.before = float(state_dict.get("seconds", 0.0))


def make_loggers(run: RunFolder) -> list:
    from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

    root = str(Path(run.logs).parent)
    loggers = [CSVLogger(save_dir=root, name=Path(run.logs).name)]
    if importlib.util.find_spec("tensorboard") or importlib.util.find_spec("tensorboardX"):
        loggers.append(TensorBoardLogger(save_dir=root, name=Path(run.tensorboard).name))
    return loggers


def make_trainer(settings: TrainSettings, run: RunFolder, runtime: dict, cluster_env: str):
    """The Lightning trainer, and the callbacks the summary reads afterwards."""
    checkpoint = ModelCheckpoint(
        dirpath=run.checkpoints,
        filename="best-epoch{epoch:03d}",
        auto_insert_metric_name=False,
        monitor="val/sdr",
        mode="max",
        save_top_k=1,
        save_last=True,
        save_on_train_epoch_end=True,
    )
    callbacks = {
        "checkpoint": checkpoint,
        "steps": StepTimer(),
        "progress": Progress(),
        "timer": None,
    }
    if settings.max_minutes:
        # Checked at epoch ends only, so every checkpoint is an end-of-epoch one.
        duration = timedelta(minutes=settings.max_minutes)
        callbacks["timer"] = Timer(duration=duration, interval="epoch")
    environment = SLURMEnvironment() if cluster_env == "slurm" else LightningEnvironment()
    trainer = pl.Trainer(
        accelerator=settings.accelerator,
        devices=settings.devices,
        num_nodes=settings.nodes,
        strategy=settings.strategy,
        precision=runtime["precision"],
        max_epochs=settings.epochs,
        callbacks=[c for c in callbacks.values() if c is not None] + [TQDMProgressBar(10)],
        logger=make_loggers(run),
        plugins=[environment],
        deterministic=runtime["deterministic"],
        sync_batchnorm=settings.sync_batchnorm,
        use_distributed_sampler=False,  # SeparationData splits across ranks itself
        log_every_n_steps=settings.log_every_n_steps,
        num_sanity_val_steps=settings.num_sanity_val_steps,
        check_val_every_n_epoch=settings.val_every,
        enable_progress_bar=True,
        default_root_dir=run.path,
    )
    return trainer, callbacks


def _fit(trainer, system, data, resumed: str | None) -> None:
    with warnings.catch_warnings():
        # The frozen visual backbone stays in eval mode on purpose (iquery/model/visual.py).
        warnings.filterwarnings("ignore", message=".*module\\(s\\) in eval mode.*")
        # A resumed run writes into its own checkpoint folder by design.
        warnings.filterwarnings("ignore", message=".*exists and is not empty.*")
        trainer.fit(system, datamodule=data, ckpt_path=resumed, weights_only=True)


def make_data(settings: TrainSettings, facts: dict, val_facts: dict, val_pairs: list):
    """The training mixtures and the fixed selection pairs, and what a checkpoint must remember
    of them to cut its test clips the same way (``data_spec``)."""
    spec = ClipSpec.from_settings(settings)
    use_motion = variant(settings.variant).motion
    common = {"spec": spec, "frame_rate": facts["frame_rate"], "use_motion": use_motion}
    train_set = MixDataset(facts["refs"], seed=settings.seed, dup=settings.dup, **common)
    val_set = MixDataset(val_facts["refs"], pairs=val_pairs, **common)
    data = SeparationData(
        train_set,
        val_set,
        batch_size=settings.batch_size,
        val_batch_size=settings.val_batch_size,
        num_workers=settings.num_workers,
        seed=settings.seed,
    )
    data_spec = dataclasses.asdict(spec) | {
        "frame_rate": facts["frame_rate"],
        "audio_rate": facts["audio_rate"],
        "classes": facts["classes"],
        "use_motion": use_motion,
        "recipe": facts.get("recipe") or {},
    }
    return data, data_spec


def fit_outcome(trainer, callbacks: dict, run: RunFolder, settings: TrainSettings, resumed) -> dict:
    """What a fit left behind: the checkpoints, how far it got and how fast."""
    best = callbacks["checkpoint"].best_model_path
    score = callbacks["checkpoint"].best_model_score
    last = Path(run.last_checkpoint)
    folder = Path(run.path).resolve()
    if best and not Path(best).resolve().is_relative_to(folder):
        # A run folder copied or moved, then resumed: the checkpoint callback remembers where
        # its best file was written; the file came along under the same name.
        best = str(Path(run.checkpoints) / Path(best).name)
    return {
        "best_checkpoint": str(Path(best).resolve().relative_to(folder)) if best else None,
        "best_val_sdr": float(score) if score is not None else None,
        "last_checkpoint": str(last.relative_to(run.path)) if last.is_file() else None,
        "epochs_completed": trainer.current_epoch,
        "optimizer_steps": trainer.global_step,
        "world_size": trainer.world_size,
        "stopped_by_time": bool(
            callbacks["timer"] is not None and trainer.current_epoch < settings.epochs
        ),
        "resumed_from": resumed,
        "seconds_per_batch": callbacks["steps"].mean,
    }


# ----------------------------------------------------------------------------------------------


def train(
    train_index: Path,
    select_index: Path,
    run: RunFolder,
    settings: TrainSettings,
    *,
    select_on: str,
    pairs: Path | None = None,
    cluster_env: str = "lightning",
    on_change: str = "error",
) -> dict:
    """Train (or resume) one run; returns the summary also written to ``run.summary``."""
    if settings.threads:
        torch.set_num_threads(int(settings.threads))
    facts = split_facts(train_index)
    val_facts, val_pairs = selection_pairs(select_index, select_on, settings, pairs)
    if val_facts["classes"] != facts["classes"]:
        raise ConfigError(f"{select_on} shards list other classes than the train shards")
    if settings.exclude_classes:
        facts, val_facts, val_pairs = without_classes(
            settings.exclude_classes, facts, val_facts, val_pairs
        )
    cfg = model_config(settings, facts)
    runtime = resolve_runtime(settings)
    indexes = [train_index, select_index] + ([pairs] if select_on == "test" else [])
    identity = {"select_on": select_on, "data": data_identity(indexes)}
    plain = settings.to_dict()
    hashed = {k: v for k, v in plain.items() if k not in RUNTIME_KEYS} | identity
    run_hash = digest(hashed)
    check_resume(run, plain | identity, on_change=on_change)

    pl.seed_everything(settings.seed, workers=True)
    data, data_spec = make_data(settings, facts, val_facts, val_pairs)
    data_spec |= {"select_on": select_on, "config_hash": run_hash}
    system = SeparationSystem.from_settings(cfg, settings, data_spec)
    train_set = data.train_set
    trainer, callbacks = make_trainer(settings, run, runtime, cluster_env)
    per_step = settings.batch_size * trainer.world_size
    if len(train_set) < per_step:
        raise ConfigError(
            f"the train split gives {len(train_set)} mixtures per epoch, fewer than one step "
            f"takes (batch_size {settings.batch_size} x {trainer.world_size} rank(s)): "
            "lower batch_size or raise dup"
        )
    last = Path(run.last_checkpoint)
    resumed = str(last) if last.is_file() else None
    if trainer.is_global_zero:
        write_json(run.settings, plain | identity)
    started = time.time()
    _fit(trainer, system, data, resumed)

    summary = {
        "run": run.path,
        "variant": settings.variant,
        "config": plain,
        "config_hash": run_hash,
        "model_config": dataclasses.asdict(cfg),
        "selection": {
            "on": select_on,
            "monitor": "val/sdr",
            "pairs": len(val_pairs),
            "note": SELECTION_NOTES[select_on],
        },
        **fit_outcome(trainer, callbacks, run, settings, resumed),
        "batches_per_epoch": len(train_set) // (settings.batch_size * trainer.world_size),
        "seconds_this_invocation": round(time.time() - started, 2),
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
            "motion_weights": facts.get("motion_weights"),
            # the file the motion stage read (null: random weights), as the shards' recipe says
            "motion_weights_file": (facts.get("recipe") or {})
            .get("stages", {})
            .get("motion", {})
            .get("weights"),
        },
        "provenance": provenance(hashed),
    }
    if trainer.is_global_zero:
        write_json(run.summary, summary)
    return summary
