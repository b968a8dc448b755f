"""Training system: iQuery (or the Sound-of-Pixels baseline) with its recipe, as a
LightningModule, and the data module that feeds it (docs/method.md §2, §4, §6).

Loss: ratio masks with weighted L1 between sigmoid(logits) and the targets (iQuery), or binary
masks with weighted binary cross-entropy (Sound of Pixels), on the log-frequency grid (256 rows,
or freq_bins), averaged over both sources. Optimisers:

* ``adam`` (iQuery, as its published code has them): Adam (lr_sound, no weight decay) over the
  U-Net and the visual head (and the visual backbone at lr_frame when it is trained), × 0.1
  after epochs ``lr_steps`` (30, 50); AdamW (lr_transformer, weight_decay) over the transformer
  (queries, projections, mask MLP), × 0.1 every ``transformer_step`` epochs (80, AVE 40).
* ``sgd`` (Sound of Pixels): one SGD with momentum and weight decay over everything, the visual
  backbone at lr_frame, the rest at lr_sound (the transformer, if any, at lr_transformer),
  × 0.1 after epochs ``lr_steps`` (40, 80).

``schedule: cosine`` replaces those drops: every group's rate goes from its value to 0 along a
half cosine over the run's batches (for short runs, such as the demo's).

Two optimisers need manual optimisation; Lightning's ``global_step`` then counts optimiser steps
(2 per batch with Adam + AdamW, 1 with SGD). Schedules are stepped per epoch, caught up at each
epoch's start (not at its end), so the learning rate is a function of the epoch alone, whichever
hook a checkpoint was taken in.

Determinism: every training sample is drawn from a generator seeded by (seed, epoch, index) and
the order of an epoch by (seed, epoch), both independent of workers and of restarts, so a run
resumed from an end-of-epoch checkpoint equals an uninterrupted one on the CPU.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import warnings
from collections.abc import Iterator
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import torch
from torch import Tensor

from iquery.model.audio import N_WARPED, SpectralFrontEnd, mask_loss
from iquery.model.iquery import ModelConfig
from iquery.model.separator import Separating, build_model, read_checkpoint
from iquery.model.settings import TrainSettings
from iquery.model.shard_dataset import MixDataset, collate
from iquery.model.variants import variant as find_variant


class SeparationSystem(Separating, pl.LightningModule):
    """Mix-and-separate training of one model variant; see the module docstring."""

    def __init__(
        self,
        model_config: ModelConfig | dict,
        *,
        variant: str,
        mask: str,
        loss: str,
        optimizer: str,
        lr_sound: float,
        lr_frame: float,
        lr_transformer: float,
        weight_decay: float,
        momentum: float,
        lr_steps: tuple[int, ...] | list[int],
        transformer_step: int,
        divide_mixture: bool,
        n_fft: int,
        hop: int,
        freq_bins: int = N_WARPED,
        schedule: str = "step",
        data_spec: dict | None = None,
    ) -> None:
        super().__init__()
        if isinstance(model_config, dict):
            model_config = ModelConfig(**model_config)
        # Plain types only, so a checkpoint loads with weights_only=True and rebuilds the model.
        self.save_hyperparameters(
            {
                "model_config": dataclasses.asdict(model_config),
                "variant": variant,
                "mask": mask,
                "loss": loss,
                "optimizer": optimizer,
                "lr_sound": lr_sound,
                "lr_frame": lr_frame,
                "lr_transformer": lr_transformer,
                "weight_decay": weight_decay,
                "momentum": momentum,
                "lr_steps": [int(s) for s in lr_steps],
                "transformer_step": int(transformer_step),
                "divide_mixture": bool(divide_mixture),
                "n_fft": n_fft,
                "hop": hop,
                "freq_bins": int(freq_bins),
                "schedule": schedule,
                "data_spec": dict(data_spec or {}),
            }
        )
        self.automatic_optimization = False
        self.variant = variant
        self.model = build_model(model_config, variant)
        self.front_end = SpectralFrontEnd(n_fft, hop, freq_bins)
        self.uses_motion = find_variant(variant).motion
        self._val_sums: dict[str, float] = {}

    @classmethod
    def from_settings(cls, model_config: ModelConfig, settings: TrainSettings, data_spec: dict):
        """A system with the recipe in a run's settings (``iquery/model/settings.py``)."""
        plain = settings.to_dict()
        recipe = inspect.signature(cls.__init__).parameters.keys() & plain.keys()
        return cls(model_config, data_spec=data_spec, **{k: plain[k] for k in recipe})

    # ------------------------------------------------------------------------------------------
    # forward: mask_logits and mix (``Separating``)

    def loss_and_masks(self, batch: dict):
        """Each mixture's loss (B,), the sigmoid masks and the ``MixtureBatch`` of a batch."""
        mixture = self.mix(batch["audio"])
        logits = self.mask_logits(batch, mixture)
        target = mixture.targets(self.hparams.mask)
        losses = mask_loss(self.hparams.loss, logits, target, mixture.weight)
        return losses, torch.sigmoid(logits.float()), mixture

    # ------------------------------------------------------------------------------------------
    # training

    def _optimizers(self) -> list:
        opts = self.optimizers()
        return list(opts) if isinstance(opts, list | tuple) else [opts]

    def _schedulers(self) -> list:
        scheds = self.lr_schedulers()
        if scheds is None:
            return []
        return list(scheds) if isinstance(scheds, list | tuple) else [scheds]

    def on_train_epoch_start(self) -> None:
        # Catch the per-epoch schedules up to this epoch: a no-op on an uninterrupted run, and
        # right after a resume whichever hook the checkpoint was written in.
        with warnings.catch_warnings():
            # After a resume no optimiser has stepped yet in this process, which torch flags.
            warnings.filterwarnings("ignore", message=".*lr_scheduler.step.*before.*")
            for sched in self._schedulers():
                while sched.last_epoch < self.current_epoch:
                    sched.step()
        for i, opt in enumerate(self._optimizers()):
            self.log(f"lr/{i}", opt.param_groups[0]["lr"], on_step=False, on_epoch=True)

    def _cosine_rates(self, batch_idx: int) -> None:
        """Schedule 'cosine': each group's rate is its base rate times a half cosine of how far
        the run is, from 1 at the first batch to 0 after the last: a function of (epoch,
        batch) alone, so a resumed run follows it too."""
        per_epoch = max(1, int(self.trainer.num_training_batches))
        done = (self.current_epoch * per_epoch + batch_idx) / (self.trainer.max_epochs * per_epoch)
        factor = 0.5 * (1.0 + math.cos(math.pi * min(done, 1.0)))
        for opt in self._optimizers():
            for group in opt.param_groups:
                group["lr"] = group["base_lr"] * factor

    def training_step(self, batch: dict, batch_idx: int) -> Tensor:
        loss = self.loss_and_masks(batch)[0].mean()
        if self.hparams.schedule == "cosine":
            self._cosine_rates(batch_idx)
        opts = self._optimizers()
        for opt in opts:
            opt.zero_grad(set_to_none=True)
        self.manual_backward(loss)
        for opt in opts:
            opt.step()
        self.log(
            "train/loss",
            loss.detach(),
            on_step=True,
            on_epoch=True,
            prog_bar=True,
            batch_size=batch["audio"].shape[0],
            sync_dist=True,
        )
        return loss.detach()

    def parameter_groups(self) -> dict[str, list[torch.nn.Parameter]]:
        """Trainable parameters by learning rate: 'frame' (the visual backbone, lr_frame),
        'transformer' (lr_transformer) and 'sound' (all the rest: U-Net, visual head, SoP's
        channel weights; lr_sound). Empty groups are left out."""
        trainable = [p for p in self.model.parameters() if p.requires_grad]
        groups: dict[str, list] = {"frame": [], "transformer": []}
        groups["frame"] = [p for p in self.model.visual.backbone.parameters() if p.requires_grad]
        predictor = getattr(self.model, "predictor", None)
        if predictor is not None:
            groups["transformer"] = [p for p in predictor.parameters() if p.requires_grad]
        taken = {id(p) for group in groups.values() for p in group}
        groups["sound"] = [p for p in trainable if id(p) not in taken]
        return {name: params for name, params in groups.items() if params}

    def configure_optimizers(self):
        hp = self.hparams
        groups = self.parameter_groups()
        rates = {"sound": hp.lr_sound, "frame": hp.lr_frame, "transformer": hp.lr_transformer}
        # base_lr: where schedule 'cosine' starts each group (kept in the optimiser's state).
        if hp.optimizer == "sgd":
            sgd = torch.optim.SGD(
                [
                    {"params": p, "lr": rates[name], "base_lr": rates[name]}
                    for name, p in groups.items()
                ],
                momentum=hp.momentum,
                weight_decay=hp.weight_decay,
            )
            if hp.schedule == "cosine":
                return [sgd]
            steps = torch.optim.lr_scheduler.MultiStepLR(sgd, hp.lr_steps, gamma=0.1)
            return [sgd], [{"scheduler": steps, "interval": "epoch"}]
        adam = torch.optim.Adam(
            [
                {"params": groups[n], "lr": rates[n], "base_lr": rates[n]}
                for n in ("sound", "frame")
                if n in groups
            ]
        )
        optimizers = [adam]
        schedulers = [torch.optim.lr_scheduler.MultiStepLR(adam, hp.lr_steps, gamma=0.1)]
        if "transformer" in groups:
            adamw = torch.optim.AdamW(
                [{"params": groups["transformer"], "base_lr": hp.lr_transformer}],
                lr=hp.lr_transformer,
                weight_decay=hp.weight_decay,
            )
            optimizers.append(adamw)
            schedulers.append(
                torch.optim.lr_scheduler.StepLR(adamw, hp.transformer_step, gamma=0.1)
            )
        if hp.schedule == "cosine":
            return optimizers
        return optimizers, [{"scheduler": s, "interval": "epoch"} for s in schedulers]

    # ------------------------------------------------------------------------------------------
    # validation: loss and SDR on fixed pairs (the evaluation protocol, model row only)

    def on_validation_epoch_start(self) -> None:
        self._val_sums = {"loss": 0.0, "pairs": 0.0, "sdr": 0.0, "sir": 0.0, "sar": 0.0}
        self._val_sums |= {"scored": 0.0, "skipped": 0.0}

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        from iquery.model.metrics import estimates_from, score_pair

        # Per-pair losses, so that repeated padding pairs can be left out.
        losses, masks, mixture = self.loss_and_masks(batch)
        counted = batch.get("counted")
        if counted is None:
            counted = torch.ones(masks.shape[0], dtype=torch.bool)
        refs, ests = estimates_from(
            self.front_end, mixture, masks=masks, methods=("model",), threshold=self.threshold
        )
        sums = self._val_sums
        for b in range(refs.shape[0]):
            if not bool(counted[b]):
                continue
            sums["loss"] += float(losses[b])
            sums["pairs"] += 1
            scores = score_pair(refs[b], {"model": ests["model"][b]})
            if scores is None:
                sums["skipped"] += 1
                continue
            sums["scored"] += 1
            for key in ("sdr", "sir", "sar"):
                sums[key] += scores["model"][key]

    def on_validation_epoch_end(self) -> None:
        keys = sorted(self._val_sums)
        # Sums over all ranks, so every rank logs the same mean over all pairs.
        totals = torch.tensor([self._val_sums[k] for k in keys], dtype=torch.float64)
        totals = self.trainer.strategy.reduce(totals.to(self.device), reduce_op="sum").cpu()
        sums = dict(zip(keys, totals.tolist(), strict=True))
        scored = sums["scored"]
        for key in ("sdr", "sir", "sar"):
            value = sums[key] / scored if scored else float("nan")
            self.log(f"val/{key}", value, prog_bar=key == "sdr", sync_dist=False)
        self.log("val/loss", sums["loss"] / max(sums["pairs"], 1.0), sync_dist=False)
        self.log("val/skipped", sums["skipped"], sync_dist=False)


# ----------------------------------------------------------------------------------------------
# Data: epoch-seeded sampling that survives restarts and splits across ranks


class EpochDataset(torch.utils.data.Dataset):
    """A ``MixDataset`` indexed by (epoch, index), so the epoch reaches every worker with the key
    instead of relying on when the loader's iterator was made."""

    def __init__(self, dataset: MixDataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]) -> dict:
        epoch, index = key
        self.dataset.set_epoch(epoch)
        return self.dataset[index]


class EpochSampler(torch.utils.data.Sampler):
    """A permutation seeded by (seed, epoch), dealt round-robin to ``world`` ranks.

    The tail that does not fill every rank equally is dropped (as DistributedSampler with
    drop_last), so all ranks run the same number of batches. Yields (epoch, index) keys.
    """

    def __init__(self, n: int, *, seed: int, epoch: int = 0, rank: int = 0, world: int = 1) -> None:
        self.n, self.seed, self.epoch, self.rank, self.world = n, seed, epoch, rank, world

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.n // self.world

    def __iter__(self) -> Iterator[tuple[int, int]]:
        epoch = self.epoch
        order = np.random.default_rng([self.seed, epoch]).permutation(self.n)
        order = order[: len(self) * self.world]
        return iter([(epoch, int(i)) for i in order[self.rank :: self.world]])


class ShareSampler(torch.utils.data.Sampler):
    """Evaluation order: index i goes to rank i % world. Ranks with one index fewer repeat their
    first one, flagged as not counted, so every rank runs the same number of batches (DDP's
    collectives would wait forever on a rank that has finished)."""

    def __init__(self, n: int, rank: int = 0, world: int = 1) -> None:
        own = list(range(rank, n, world))
        per_rank = -(-n // world)
        self.keys = [(i, True) for i in own]
        self.keys += [(own[0] if own else 0, False)] * (per_rank - len(own))

    def __len__(self) -> int:
        return len(self.keys)

    def __iter__(self) -> Iterator[tuple[int, bool]]:
        return iter(self.keys)


class CountedDataset(torch.utils.data.Dataset):
    """Evaluation samples keyed by (index, counted); the flag travels with the sample."""

    def __init__(self, dataset: MixDataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, bool]) -> tuple[dict, bool]:
        index, counted = key
        return self.dataset[index], counted


def collate_counted(samples: list[tuple[dict, bool]]) -> dict:
    batch = collate([s for s, _ in samples])
    batch["counted"] = torch.tensor([c for _, c in samples], dtype=torch.bool)
    return batch


class SeparationData(pl.LightningDataModule):
    """Training mixtures and fixed validation pairs. Use ``Trainer(use_distributed_sampler=False)``:
    the samplers here split the data across ranks themselves."""

    def __init__(
        self,
        train: MixDataset,
        val: MixDataset | None,
        *,
        batch_size: int,
        seed: int,
        val_batch_size: int | None = None,
        num_workers: int = 0,
    ) -> None:
        super().__init__()
        self.train_set, self.val_set = train, val
        self.batch_size = batch_size
        self.val_batch_size = val_batch_size or batch_size
        self.num_workers, self.seed = num_workers, seed

    def _rank_world(self) -> tuple[int, int]:
        trainer = self.trainer
        return (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)

    def _loader(self, dataset, **kwargs) -> torch.utils.data.DataLoader:
        kwargs.setdefault("collate_fn", collate)
        return torch.utils.data.DataLoader(
            dataset,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            **kwargs,
        )

    def train_dataloader(self) -> torch.utils.data.DataLoader:
        rank, world = self._rank_world()
        # Lightning makes the first iterator of a resumed fit before it calls set_epoch, and
        # workers fetch keys at once: start the sampler at the epoch the fit loop resumes at.
        epoch = 0
        if self.trainer is not None:
            epoch = self.trainer.fit_loop.epoch_progress.current.processed
        sampler = EpochSampler(
            len(self.train_set), seed=self.seed, epoch=epoch, rank=rank, world=world
        )
        return self._loader(
            EpochDataset(self.train_set),
            sampler=sampler,
            batch_size=self.batch_size,
            drop_last=True,
        )

    def val_dataloader(self) -> torch.utils.data.DataLoader | list:
        if self.val_set is None:
            return []
        rank, world = self._rank_world()
        return self._loader(
            CountedDataset(self.val_set),
            sampler=ShareSampler(len(self.val_set), rank, world),
            batch_size=self.val_batch_size,
            collate_fn=collate_counted,
        )


# ----------------------------------------------------------------------------------------------
# Loading


def load_system(path: str | Path, map_location: str | torch.device = "cpu") -> SeparationSystem:
    """Rebuild a system (to train on: ``expand``) from a Lightning checkpoint read with
    ``weights_only=True``; evaluation and separation take ``load_separator``."""
    hparams, state = read_checkpoint(path, map_location)
    model_config = hparams.pop("model_config")
    try:
        system = SeparationSystem(model_config, **hparams)
    except TypeError as err:
        raise ValueError(f"{path}: made by another version of this code ({err}); retrain") from err
    system.load_state_dict(state, strict=True)
    return system.eval()
