"""A training run's settings: every key, its default (the paper's MUSIC value), and the checks.

Kept free of heavy imports: the workflow reads it when it starts, so that a typo in config.yaml
stops the run before anything is made. A run's settings are, from weakest to strongest:
``DEFAULTS``, the variant's own defaults (``iquery/model/variants.py``), then what is given (the
workflow merges the dataset's ``train.settings`` and the run's ``train.runs`` entry).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

from iquery.model.variants import VARIANTS, variant
from iquery.pipeline.core.errors import ConfigError

# What chose a run's checkpoint (setting select_on), as its results say it.
SELECTION_NOTES = {
    "val": "checkpoint chosen by SDR on fixed pairs of the validation split",
    "test": (
        "checkpoint chosen by SDR on the TEST pairs, as the published code did; "
        "test results of this run are optimistic"
    ),
}

CHOICES = {
    "variant": tuple(VARIANTS),
    "model": ("paper", "tiny"),
    "mask": ("ratio", "binary"),
    "loss": ("l1", "bce"),
    "optimizer": ("adam", "sgd"),
    "schedule": ("step", "cosine"),
    "motion_tokens": ("video", "clip"),
}
# Keys that may differ between a run and its resumption without changing what it computes
# (epochs only extends it); they stay out of the config hash, except epochs.
RUNTIME_KEYS = ("num_workers", "max_minutes")
RESUMABLE_KEYS = ("epochs", *RUNTIME_KEYS)


@dataclass(frozen=True)
class TrainSettings:
    """Every setting of a training run, typed, with its default (the paper's MUSIC value).
    Made by ``TrainSettings.load`` (defaults, the variant's own, then what is given) and
    checked when made: an object that exists is valid."""

    variant: str = "iquery"  # a key of iquery.model.variants.VARIANTS
    model: str = "paper"  # paper | tiny (ModelConfig() or ModelConfig.tiny())
    model_overrides: dict = field(
        default_factory=dict
    )  # ModelConfig fields, except num_queries (see spare_queries)
    spare_queries: int = 1  # queries beyond one per class: MUSIC, MUSIC-21 1, AVE 2
    exclude_classes: list[str] = field(
        default_factory=list
    )  # classes left out (their videos unused), e.g. to add by expansion
    visual_weights: str | None = (
        None  # local ImageNet resnet18 state dict (.pth or .safetensors); None:
    )
    # random init (the workflow fetches a URL given in config.yaml to a local file first)
    seed: int | None = None  # required: the workflow passes config key seed
    batch_size: int = 8  # per device (the paper: 8 per GPU × 8 GPUs)
    val_batch_size: int | None = None  # None: batch_size
    epochs: int = 100
    dup: int = 40  # training list repeated per epoch (dup_trainset)
    clip_samples: int = 65535
    num_frames: int = 3
    frame_stride: int = 1
    frame_size: int = 224
    motion_tokens: str = "video"  # video: all of a video's tokens (the paper); clip: the clip's own
    divide_mixture: bool = True  # MUSIC: sources ÷ N; AVE: False
    n_fft: int = 1022
    hop: int = 256
    freq_bins: int = 256  # rows of the log-frequency grid the networks read and mask
    mask: str = "ratio"  # ratio | binary (Sound of Pixels)
    loss: str = "l1"  # l1 | bce, both weighted by log1p of the mixture
    optimizer: str = "adam"  # adam: Adam (U-Net, visual) + AdamW (transformer); sgd: one SGD
    momentum: float = 0.9  # sgd only
    lr_sound: float = 1e-4  # U-Net and the visual head (and SoP's channel weights)
    lr_frame: float = 1e-4  # the ResNet-18 backbone, when it is trained
    lr_transformer: float = 1e-4
    weight_decay: float = 1e-4  # AdamW (transformer) or SGD (everything)
    lr_steps: list[int] = field(
        default_factory=lambda: [30, 50]
    )  # epochs after which lr_sound and lr_frame drop × 0.1
    transformer_step: int = 80  # MUSIC/MUSIC-21 80, AVE 40
    schedule: str = "step"  # step: the drops above (the paper's); cosine: every rate from its
    # value down to 0 along a half cosine over the run's batches (lr_steps, transformer_step unused)
    val_pairs_per_video: int = 2  # validation pairs per val video (--select-on val)
    val_every: int = 1  # epochs between validations (and chances to keep the best checkpoint)
    num_val: int = 256  # at most this many validation pairs (the paper: first 256)
    num_workers: int = 4
    devices: int = 1  # per node: GPUs (or CPU processes) each node's ranks use
    nodes: int = 1  # SLURM nodes the run spans (ranks = devices x nodes)
    accelerator: str = "auto"
    strategy: str = "auto"
    precision: str | None = None  # None: bf16-mixed on CUDA, 32-true on CPU (docs/method.md §7)
    sync_batchnorm: bool = False  # the paper's DataParallel kept per-GPU BatchNorm statistics
    deterministic: bool | None = (
        None  # None: True on CPU (CUDA has no deterministic upsampling backward)
    )
    threads: int | None = None  # torch intra-op threads per process; None leaves torch's default
    log_every_n_steps: int = 10
    num_sanity_val_steps: int = 1
    max_minutes: float | None = None  # also settable with --max-minutes

    def __post_init__(self) -> None:
        for key, allowed in CHOICES.items():
            if getattr(self, key) not in allowed:
                raise ConfigError(f"{key} {getattr(self, key)!r}: use one of {', '.join(allowed)}")
        if "num_queries" in self.model_overrides:
            raise ConfigError(
                "model_overrides.num_queries is derived (classes + spare_queries); "
                "set spare_queries instead"
            )
        if (self.mask == "binary") != (self.loss == "bce"):
            raise ConfigError("binary masks train with loss bce, ratio masks with l1")
        if self.seed is None:
            raise ConfigError("give a seed")
        every = self.val_every
        if not isinstance(every, int) or isinstance(every, bool) or every < 1:
            raise ConfigError(f"val_every {every!r}: give a whole number of epochs, 1 or more")
        if self.epochs % every:
            raise ConfigError(
                f"epochs {self.epochs} is not a multiple of val_every {every}: "
                "the last epoch must be validated, so that it can be the one kept"
            )
        for key in ("devices", "nodes"):
            value = getattr(self, key)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{key} {value!r}: give a whole number, 1 or more")

    @classmethod
    def load(cls, given: dict, where: str = "settings") -> TrainSettings:
        """The complete settings of a run from what is given; unknown keys, unknown choices and
        a missing seed raise ConfigError naming ``where``."""
        unknown = sorted(set(given) - set(DEFAULTS))
        if unknown:
            raise ConfigError(f"{where}: unknown setting(s) {unknown}; known: {sorted(DEFAULTS)}")
        name = given.get("variant", DEFAULTS["variant"])
        try:
            defaults = variant(name).defaults
        except ValueError as err:
            raise ConfigError(f"{where}: {err}") from None
        try:
            return cls(**merge(merge(json.loads(json.dumps(DEFAULTS)), defaults), given))
        except ConfigError as err:
            raise ConfigError(f"{where}: {err}") from None

    def to_dict(self) -> dict:
        """Plain values, as JSON and checkpoints keep them."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    def replace(self, **changes) -> TrainSettings:
        """These settings with ``changes``, checked again."""
        return dataclasses.replace(self, **changes)


# Every key and its default.
DEFAULTS: dict = {
    f.name: f.default if f.default is not dataclasses.MISSING else f.default_factory()
    for f in dataclasses.fields(TrainSettings)
}


# visual_weights value: the small encoder trained on the dataset's own crops (rule visual_encoder)
TRAINED_ON_CROPS = "crops"


def with_crops_encoder(settings: TrainSettings, encoder: str | Path | None) -> TrainSettings:
    """``settings`` with visual_weights ``crops`` replaced by the encoder file made for the
    dataset (``None``: a randomly initialised small encoder, the same arithmetic, for timing)."""
    if settings.visual_weights != TRAINED_ON_CROPS:
        return settings
    return settings.replace(visual_weights=str(encoder) if encoder else None)


def merge(base: dict, given: dict) -> dict:
    """``base`` updated with ``given``; ``model_overrides`` are merged key by key."""
    merged = base | given
    merged["model_overrides"] = base.get("model_overrides", {}) | given.get("model_overrides", {})
    return merged


def load_settings(given: dict, where: str = "settings") -> TrainSettings:
    """``TrainSettings.load``: the complete, checked settings of a run."""
    return TrainSettings.load(given, where)


def parse_settings(text: str) -> TrainSettings:
    """What ``--config-json`` holds: a JSON object given inline or as a file path."""
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
    return load_settings(given, "--config-json")


def train_runs(config: dict, dataset: str) -> dict:
    """Run name -> its own settings, for ``dataset`` of a workflow config (key train.runs; a
    dataset not listed there gets one run, iQuery, without motion where the dataset has none)."""
    runs = config["train"]["runs"].get(dataset)
    if runs:
        return runs
    motion = config["datasets"][dataset].get("motion", True)
    return {"iquery": {"variant": "iquery" if motion else "nomotion"}}


def train_seeds(config: dict, study: str = "main") -> list[int]:
    """The training seeds of a workflow config: key train.seeds (null: key seed alone), or for
    the seed study (the evaluate_<dataset>_seeds targets) key train.seed_study."""
    train = config["train"]
    seeds = train.get("seed_study") if study == "seeds" else train.get("seeds")
    seeds = list(seeds) if seeds else [config["seed"]]
    key = "train.seed_study" if study == "seeds" else "train.seeds"
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"config key {key}: {seeds} names a seed twice")
    return seeds


def run_settings(config: dict, dataset: str, run: str, seed: int | None = None) -> TrainSettings:
    """A run's complete settings from a workflow config: the dataset's clip length, keys seed
    (or the training ``seed`` given) and train.visual_weights, then train.settings.<dataset>,
    then train.runs.<dataset>.<run>, over the defaults above and the variant's own
    (iquery/model/variants.py)."""
    runs = train_runs(config, dataset)
    where = f"config key train.runs.{dataset}.{run}"
    if run not in runs:
        raise ConfigError(
            f"no run {run!r} for dataset {dataset}: config key train.runs.{dataset} lists "
            f"{', '.join(runs)}"
        )
    given = {
        "clip_samples": config["datasets"][dataset]["clip_samples"],
        "seed": config["seed"] if seed is None else int(seed),
        "visual_weights": config["train"]["visual_weights"],
    }
    dataset_settings = config["train"]["settings"].get(dataset, {})
    for block, name in ((dataset_settings, f"train.settings.{dataset}"), (runs[run], where)):
        if "seed" in block:
            raise ConfigError(
                f"config key {name.removeprefix('config key ')}: seed is set for the whole "
                "workflow (key seed) and per training (key train.seeds), not per run"
            )
    given = merge(merge(given, dataset_settings), runs[run])
    if "variant" not in given and run in VARIANTS:
        given["variant"] = run
    if "variant" not in given:
        raise ConfigError(f"{where}: give its variant ({', '.join(VARIANTS)})")
    return load_settings(given, where)
