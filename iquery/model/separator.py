"""The trained separator without its training loop: a model variant, its spectral front end and
the recipe's settings (``hparams``), rebuilt from a checkpoint. Evaluation, ``separate`` and the
benchmarks use it; training wraps the same parts in a LightningModule
(``iquery.model.system.SeparationSystem``), whose state dict has the same keys, so either reads
the other's checkpoints. Loading one needs no Lightning, whose import (torchmetrics with it)
costs every evaluation and separation job several seconds."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch
from torch import Tensor

from iquery.model.audio import SpectralFrontEnd
from iquery.model.iquery import IQuery, ModelConfig, SoundOfPixels
from iquery.model.shard_dataset import normalize_frames
from iquery.model.variants import variant as find_variant
from iquery.pipeline.core.torch_files import CheckpointError, describe_contents, read_torch_file

BINARY_THRESHOLD = 0.5  # where Sound of Pixels cuts its binary masks at test time


def build_model(config: ModelConfig, variant: str) -> torch.nn.Module:
    """The network of a variant; ``nomotion`` is iQuery without the motion branch."""
    spec = find_variant(variant)
    if spec.network == "sop":
        return SoundOfPixels(config)
    if spec.motion and config.motion_dim is None:
        raise ValueError(f"variant {variant!r} needs motion_dim; use variant 'nomotion'")
    return IQuery(config if spec.motion else dataclasses.replace(config, motion_dim=None))


class Settings(dict):
    """A checkpoint's hyper-parameters, read as attributes (``settings.mask``), as Lightning's
    own ``hparams`` are."""

    def __getattr__(self, key: str):
        try:
            return self[key]
        except KeyError:
            raise AttributeError(key) from None


class Separating:
    """What separating needs of a system: masks for a batch, the spectral inputs, where masks
    are cut. Shared by ``Separator`` and training's ``SeparationSystem`` (both hold ``model``,
    ``front_end``, ``hparams`` and ``uses_motion``)."""

    @property
    def threshold(self) -> float | None:
        """Where test-time masks are cut: binary masks only."""
        return BINARY_THRESHOLD if self.hparams.mask == "binary" else None

    def mask_logits(self, batch: dict, mixture) -> Tensor:
        """Logits (B, N, F, T) of every source of ``batch`` given its ``MixtureBatch``."""
        frames = normalize_frames(batch["frames"])
        n = frames.shape[1]
        classes = [batch["class_index"][:, i] for i in range(n)]
        motion = padding = None
        if self.uses_motion:
            if "motion" not in batch:
                raise ValueError("variant 'iquery' needs motion features in the batch")
            # Loader gives (B, N, T', C); the predictor reads (B, C, T') per source.
            motion = [batch["motion"][:, i].transpose(1, 2) for i in range(n)]
            padding = [batch["motion_padding"][:, i] for i in range(n)]
        spectrogram = getattr(mixture, self.model.input_kind)
        return self.model.forward_sources(
            spectrogram, [frames[:, i] for i in range(n)], classes, motion, padding
        )

    def mix(self, audio: Tensor):
        """Spectral inputs and targets of a batch, always in float32 (STFT under autocast loses
        the small ratio-mask values)."""
        with torch.autocast(device_type=audio.device.type, enabled=False):
            return self.front_end(audio.float(), divide=self.hparams.divide_mixture)


class Separator(Separating, torch.nn.Module):
    """A trained model with its front end and settings, for evaluation and separation."""

    def __init__(self, hparams: dict) -> None:
        super().__init__()
        self.hparams = Settings(hparams)
        self.variant = self.hparams.variant
        self.model = build_model(ModelConfig(**self.hparams.model_config), self.variant)
        self.front_end = SpectralFrontEnd(
            self.hparams.n_fft, self.hparams.hop, self.hparams.freq_bins
        )
        self.uses_motion = find_variant(self.variant).motion


def read_checkpoint(path: str | Path, map_location="cpu") -> tuple[dict, dict]:
    """A checkpoint's hyper-parameters (the model's config ready to build: a ResNet file it was
    started from need not exist here) and its state dict, read with ``weights_only=True``."""
    checkpoint = read_torch_file(path, "checkpoint", map_location=map_location)
    try:
        hparams = dict(checkpoint["hyper_parameters"])
        state = checkpoint["state_dict"]
        model_config = dict(hparams["model_config"])
    except (KeyError, TypeError, ValueError):
        raise CheckpointError(
            f"{path}: holds {describe_contents(checkpoint)}, not a checkpoint of this project "
            "(one written by training, `expand` or `convert_published`)"
        ) from None
    if model_config.get("visual_weights"):
        # The trained weights are in the state dict: the ResNet file need not exist here.
        if model_config.get("freeze_visual") is None:
            model_config["freeze_visual"] = True
        model_config["visual_weights"] = None
    return hparams | {"model_config": model_config}, state


def load_separator(path: str | Path, map_location="cpu") -> Separator:
    """The trained separator of a checkpoint (training's, ``expand``'s or a converted
    published one), in eval mode."""
    hparams, state = read_checkpoint(path, map_location)
    try:
        separator = Separator(hparams)
        separator.load_state_dict(state, strict=True)
    except (TypeError, KeyError, RuntimeError) as err:
        raise ValueError(f"{path}: made by another version of this code ({err}); retrain") from err
    return separator.eval()
