"""Training and evaluation on a tiny shard set: loss goes down, resume equals an uninterrupted
run (also after a kill), metrics equal mir_eval, the skip rule, IRM above the mixture, DDP
gradients, and checkpoints that load with weights_only=True."""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import lightning.pytorch as pl
import mir_eval.separation
import numpy as np
import pytest
import torch

from iquery.cli import evaluate as evaluate_cli
from iquery.cli import train as train_cli
from iquery.model.audio import SpectralFrontEnd
from iquery.model.iquery import ModelConfig
from iquery.model.metrics import evaluate_pairs, score_pair
from iquery.model.settings import load_settings
from iquery.model.shard_dataset import ClipSpec, MixDataset, collate, read_shard_index
from iquery.model.system import SeparationData, SeparationSystem, load_system
from iquery.model.training import check_resume, model_config
from iquery.pipeline.core.errors import ConfigError
from iquery.pipeline.core.layout import Layout, RunFolder
from tests.conftest import TONE_PAIRS as PAIRS

torch.set_num_threads(1)
# The frozen visual backbone stays in eval mode on purpose (iquery/model/visual.py).
pytestmark = pytest.mark.filterwarnings("ignore:.*module\\(s\\) in eval mode")

REPO = Path(__file__).resolve().parents[1]
CLIP = 8191  # 32 STFT frames at hop 256: a depth-5 U-Net divides it
SPEC = ClipSpec(clip_samples=CLIP, num_frames=3, frame_stride=1, frame_size=64)
TINY = {"unet_depth": 5}
RUN_CONFIG = {
    "seed": 1234,
    "model": "tiny",
    "model_overrides": TINY,
    "clip_samples": CLIP,
    "frame_size": 64,
    "batch_size": 2,
    "dup": 1,
    "epochs": 3,
    "num_workers": 1,  # one worker: covers the resumed loader's first iterator
    "threads": 1,
    "val_pairs_per_video": 1,
    "num_val": 4,
    "num_sanity_val_steps": 0,
    "log_every_n_steps": 1,
}


def shards(data: Layout, split: str) -> Path:
    return Path(data.shard_index("demo", split))


def train_args(data: Layout, out: Path, **overrides) -> list[str]:
    config = RUN_CONFIG | overrides
    return [
        "--train-shards",
        str(shards(data, "train")),
        "--select-shards",
        str(shards(data, "val")),
        "--run-dir",
        str(out),
        "--config-json",
        json.dumps(config),
    ]


def make_system(model_config: ModelConfig, **settings) -> SeparationSystem:
    """A system with the recipe a run with these settings would have."""
    full = load_settings({"seed": 1} | settings)
    return SeparationSystem.from_settings(model_config, full, {})


@pytest.fixture(scope="module")
def straight_run(data, tmp_path_factory) -> Path:
    """Three epochs without interruption: the reference for the resume tests."""
    out = tmp_path_factory.mktemp("runs") / "straight"
    train_cli.main(train_args(data, out))
    return out


def final_state(run: Path) -> dict:
    return torch.load(RunFolder(str(run)).last_checkpoint, weights_only=True)


def assert_same_training_state(a: dict, b: dict) -> None:
    assert a["epoch"] == b["epoch"] and a["global_step"] == b["global_step"]
    assert a["state_dict"].keys() == b["state_dict"].keys()
    for key, value in a["state_dict"].items():
        assert torch.equal(value, b["state_dict"][key]), key
    for opt_a, opt_b in zip(a["optimizer_states"], b["optimizer_states"], strict=True):
        for pid, state in opt_a["state"].items():
            for name, value in state.items():
                assert torch.equal(value, opt_b["state"][pid][name]), (pid, name)
    assert a["lr_schedulers"] == b["lr_schedulers"]


def first_batch(data: Layout, batch_size: int = 4, use_motion: bool = True) -> dict:
    refs = read_shard_index(shards(data, "train"))
    ds = MixDataset(refs, spec=SPEC, frame_rate=1, seed=5, use_motion=use_motion)
    return collate([ds[i] for i in range(batch_size)])


# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "variant, rates, factor",
    [
        ("iquery", {"lr_sound": 1e-3, "lr_transformer": 1e-3}, 0.8),
        # SoP with its own recipe (binary masks, weighted BCE, one SGD with momentum, its
        # ResNet trained too) moves more slowly in a dozen batches than Adam does.
        ("sop", {"lr_sound": 1e-2, "lr_frame": 1e-3}, 0.95),
    ],
)
def test_a_few_steps_lower_the_loss(data, variant, rates, factor):
    torch.manual_seed(0)
    cfg = ModelConfig.tiny(**TINY, motion_dim=8, num_queries=4)
    system = make_system(cfg, variant=variant, **rates)
    batch = first_batch(data, use_motion=variant == "iquery")
    optimizers, _ = system.configure_optimizers()
    assert len(optimizers) == (2 if variant == "iquery" else 1)
    # Every trainable parameter sits in exactly one optimiser.
    ids = [id(p) for opt in optimizers for g in opt.param_groups for p in g["params"]]
    trainable = [id(p) for p in system.parameters() if p.requires_grad]
    assert sorted(ids) == sorted(trainable)
    losses = []
    for _ in range(12):
        loss = system.loss_and_masks(batch)[0].mean()
        for opt in optimizers:
            opt.zero_grad()
        loss.backward()
        for opt in optimizers:
            opt.step()
        losses.append(float(loss.detach()))
    assert np.mean(losses[-3:]) < factor * losses[0], losses


@pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step\\(\\)` before")
def test_optimisers_and_schedules_follow_the_paper():
    system = make_system(ModelConfig.tiny(**TINY), lr_sound=1e-4, transformer_step=80)
    (adam, adamw), schedulers = system.configure_optimizers()
    assert type(adam) is torch.optim.Adam and adam.defaults["weight_decay"] == 0
    assert type(adamw) is torch.optim.AdamW and adamw.defaults["weight_decay"] == 1e-4
    predictor = {id(p) for p in system.model.predictor.parameters()}
    assert {id(p) for p in adamw.param_groups[0]["params"]} == predictor
    head = {id(p) for p in system.model.visual.head.parameters()}
    assert head <= {id(p) for p in adam.param_groups[0]["params"]}
    multi, step = (s["scheduler"] for s in schedulers)
    lrs = []
    for _ in range(85):
        lrs.append((adam.param_groups[0]["lr"], adamw.param_groups[0]["lr"]))
        multi.step()
        step.step()
    # Epochs are 0-based here: epoch 30 is the first after 30 trained epochs.
    assert lrs[29][0] == pytest.approx(1e-4) and lrs[30][0] == pytest.approx(1e-5)
    assert lrs[50][0] == pytest.approx(1e-6) and lrs[79][1] == pytest.approx(1e-4)
    assert lrs[80][1] == pytest.approx(1e-5)


@pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step\\(\\)` before")
def test_sound_of_pixels_trains_with_its_own_recipe():
    given = {"seed": 1, "variant": "sop", "model": "tiny", "model_overrides": TINY}
    settings = load_settings(given | {"clip_samples": CLIP})
    cfg = model_config(settings, {"classes": ["a", "b", "c"], "motion_dim": None})
    assert cfg.num_queries == 4 and cfg.motion_dim is None  # classes + spare_queries
    system = SeparationSystem.from_settings(cfg, settings, {})
    assert system.hparams.mask == "binary" and system.hparams.loss == "bce"
    assert system.threshold == 0.5 and not system.model.visual.frozen  # the ResNet trains
    [sgd], [schedule] = system.configure_optimizers()
    assert type(sgd) is torch.optim.SGD and sgd.defaults["momentum"] == 0.9
    assert sgd.defaults["weight_decay"] == 1e-4
    rates = {len(g["params"]): g["lr"] for g in sgd.param_groups}
    backbone = [p for p in system.model.visual.backbone.parameters()]
    assert rates[len(backbone)] == pytest.approx(1e-4)  # lr_frame
    assert sorted(rates.values()) == pytest.approx([1e-4, 1e-3])
    lrs = []
    for _ in range(85):
        lrs.append(sgd.param_groups[0]["lr"])
        schedule["scheduler"].step()
    assert lrs[39] == pytest.approx(lrs[0]) and lrs[40] == pytest.approx(lrs[0] / 10)
    assert lrs[80] == pytest.approx(lrs[0] / 100)


def test_resume_equals_straight_run(data, straight_run, tmp_path):
    out = tmp_path / "resumed"
    train_cli.main(train_args(data, out, epochs=1))
    summary = train_cli.main(train_args(data, out))  # same run, resumed for epochs 2 and 3
    assert summary["resumed_from"].endswith("last.ckpt")
    assert_same_training_state(final_state(straight_run), final_state(out))
    with pytest.raises(SystemExit, match="different settings"):
        train_cli.main(train_args(data, out, batch_size=3))


def test_cosine_schedule_follows_the_batches_and_survives_a_resume(data, tmp_path):
    """schedule: cosine sets every group's rate from how far the run is, batch by batch: the
    last batch of epoch e ran at base * (1 + cos(pi * (e*n + n-1) / (E*n))) / 2, and a run
    resumed after its first epoch ends where a straight one does."""
    cosine = {"schedule": "cosine", "lr_sound": 1e-3, "lr_transformer": 4e-4}
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    summary = train_cli.main(train_args(data, straight, **cosine))
    # Stopped by its time budget after the first epoch, then resumed.
    first = train_cli.main(train_args(data, resumed, max_minutes=1e-4, **cosine))
    assert first["epochs_completed"] == 1 and first["stopped_by_time"]
    train_cli.main(train_args(data, resumed, **cosine))
    assert_same_training_state(final_state(straight), final_state(resumed))
    # More epochs make another cosine, so another run: refused, not resumed.
    with pytest.raises(SystemExit, match="different settings \\(epochs\\)"):
        train_cli.main(train_args(data, resumed, epochs=5, **cosine))
    state = final_state(straight)
    assert state["lr_schedulers"] == []
    n, epochs = summary["batches_per_epoch"], summary["config"]["epochs"]
    factor = 0.5 * (1 + math.cos(math.pi * (epochs * n - 1) / (epochs * n)))
    adam, adamw = state["optimizer_states"]
    assert adam["param_groups"][0]["lr"] == pytest.approx(1e-3 * factor)
    assert adamw["param_groups"][0]["lr"] == pytest.approx(4e-4 * factor)
    assert adam["param_groups"][0]["base_lr"] == 1e-3


def test_validation_every_other_epoch_keeps_the_last(data, tmp_path):
    out = tmp_path / "every2"
    summary = train_cli.main(train_args(data, out, epochs=4, val_every=2))
    logged = [r for r in csv.DictReader(open(out / "logs" / "version_0" / "metrics.csv"))]
    validated = sorted({int(r["epoch"]) for r in logged if r.get("val/sdr")})
    assert validated == [1, 3]
    # TensorBoard's logs beside the CSV ones, with the same validation SDR.
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    (events,) = (out / "tensorboard").glob("version_0/events.out.tfevents.*")
    board = EventAccumulator(str(events))
    board.Reload()
    assert len(board.Scalars("val/sdr")) == 2 and "train/loss_step" in board.Tags()["scalars"]
    assert summary["best_checkpoint"] in (
        "checkpoints/best-epoch001.ckpt",
        "checkpoints/best-epoch003.ckpt",
    )
    with pytest.raises(SystemExit, match="not a multiple of val_every"):
        train_cli.main(train_args(data, tmp_path / "odd", epochs=3, val_every=2))


def test_copied_run_resumes_in_its_new_place(data, tmp_path):
    """A run folder copied elsewhere (another disk, a colleague's results) and run again names
    the best checkpoint in its own folder, not in the one it was trained in."""
    first = tmp_path / "first"
    train_cli.main(train_args(data, first, epochs=1))
    copy = tmp_path / "copy"
    shutil.copytree(first, copy)
    shutil.rmtree(first)
    # Run again as it was (Snakemake does when it finds the outputs older than their inputs):
    # nothing is left to train, and the checkpoint callback's memory is all there is.
    summary = train_cli.main(train_args(data, copy, epochs=1))
    assert summary["resumed_from"].endswith("last.ckpt") and summary["epochs_completed"] == 1
    assert (copy / summary["best_checkpoint"]).is_file()


def test_killed_run_resumes_to_the_same_weights(data, straight_run, tmp_path):
    out = tmp_path / "killed"
    env = os.environ | {"OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "iquery.cli.train", *train_args(data, out)]
    proc = subprocess.Popen(
        cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    last = out / "checkpoints" / "last.ckpt"
    deadline = time.time() + 120
    while not last.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)  # as an out-of-memory kill or a pre-empted job would
    proc.wait()
    assert last.exists(), "the run was killed before its first checkpoint"
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    epoch_at_kill = torch.load(last, weights_only=True)["epoch"]
    assert epoch_at_kill < 2
    summary = train_cli.main(train_args(data, out))
    assert summary["resumed_from"] is not None and summary["epochs_completed"] == 3
    assert_same_training_state(final_state(straight_run), final_state(out))


def test_checkpoint_loads_weights_only_and_evaluates(data, straight_run):
    summary = json.loads((straight_run / "train_summary.json").read_text())
    best = straight_run / summary["best_checkpoint"]
    checkpoint = torch.load(best, weights_only=True)
    assert checkpoint["hyper_parameters"]["variant"] == "iquery"
    system = load_system(best)
    assert torch.equal(
        system.state_dict()["model.unet.up.0.weight"],
        checkpoint["state_dict"]["model.unet.up.0.weight"],
    )
    run = RunFolder(str(straight_run))
    result = evaluate_cli.main(
        ["--summary", run.summary, "--shards", str(shards(data, "test"))]
        + ["--pairs", data.test_pairs("demo"), "--metrics", run.metrics]
        + ["--per-pair", run.per_pair, "--batch-size", "2"]
    )
    assert result["summary"]["scored"] == len(PAIRS)
    lines = (straight_run / "per_pair.tsv").read_text().splitlines()
    header = lines[0].split("\t")
    assert len(lines) == 1 + len(PAIRS)
    for column in ("model_sdr", "mixture_sdr", "irm_sdr", "config_hash", "code_version"):
        assert column in header
    metrics = json.loads((straight_run / "metrics.json").read_text())
    assert set(metrics["methods"]) == {"model", "mixture", "irm"}
    assert metrics["config_hash"] == summary["config_hash"]
    assert set(metrics["packages"]) == {"torch", "lightning", "mir_eval", "numpy"}


def test_bad_settings_are_named(data, tmp_path):
    with pytest.raises(SystemExit, match="unknown setting"):
        train_cli.main(train_args(data, tmp_path / "x", no_such_key=1))
    with pytest.raises(SystemExit, match="multiple of 32"):
        train_cli.main(train_args(data, tmp_path / "x", clip_samples=9000))
    with pytest.raises(SystemExit, match="model_overrides"):
        train_cli.main(train_args(data, tmp_path / "x", model_overrides={"depth": 3}))
    with pytest.raises(SystemExit, match="devices 0: give a whole number"):
        train_cli.main(train_args(data, tmp_path / "x", devices=0))
    # An epoch must hold one step: else Lightning trains nothing and no checkpoint is chosen.
    with pytest.raises(SystemExit, match="fewer than one step takes .batch_size 4096"):
        train_cli.main(train_args(data, tmp_path / "x", batch_size=4096))


def test_scores_equal_mir_eval_and_silent_pairs_are_skipped():
    rng = np.random.default_rng(0)
    refs = rng.normal(size=(2, 4000))
    ests = refs + 0.3 * rng.normal(size=(2, 4000)) + 0.2 * refs[::-1]
    # Several rows of one pair are scored together; each must be what mir_eval gives alone.
    rows = {"model": ests, "swapped": ests[::-1], "quiet": 0.5 * refs + 0.1 * ests}
    scored = score_pair(refs, rows)
    for name, estimate in rows.items():
        ours = scored[name]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # deprecated in 0.8, the reference
            sdr, sir, sar, _ = mir_eval.separation.bss_eval_sources(
                refs, estimate, compute_permutation=False
            )
        assert ours["sdr"] == pytest.approx(sdr.mean(), abs=1e-9)
        assert ours["sir"] == pytest.approx(sir.mean(), abs=1e-9)
        assert ours["sar"] == pytest.approx(sar.mean(), abs=1e-9)
        assert ours["sdr_sources"] == pytest.approx(list(sdr), abs=1e-9)
    silent_ref = refs.copy()
    silent_ref[1] = 0
    assert score_pair(silent_ref, {"model": ests}) is None
    nearly_silent = ests.copy()
    nearly_silent[0] = 1e-10  # sum |x| = 4e-7 <= 1e-5
    assert score_pair(refs, {"model": ests, "irm": nearly_silent}) is None


def test_skipped_pairs_are_counted(data):
    refs = read_shard_index(shards(data, "test"))
    pairs = [((a, b), (c, d)) for a, b, c, d in PAIRS]
    ds = MixDataset(refs, spec=SPEC, frame_rate=1, pairs=pairs, use_motion=False)
    batches = [collate([ds[i] for i in range(len(ds))])]
    batches[0]["audio"][1, 0] = 0  # the second pair loses its first source
    rows, summary = evaluate_pairs(None, batches, SpectralFrontEnd())
    assert [r["skipped"] for r in rows] == [False, True, False]
    assert summary["scored"] == 2 and summary["skipped"] == 1


def test_ideal_ratio_mask_beats_the_mixture(data):
    refs = read_shard_index(shards(data, "test"))
    pairs = [((a, b), (c, d)) for a, b, c, d in PAIRS]
    ds = MixDataset(refs, spec=SPEC, frame_rate=1, pairs=pairs, use_motion=False)
    loader = torch.utils.data.DataLoader(ds, batch_size=2, collate_fn=collate)
    rows, summary = evaluate_pairs(None, loader, SpectralFrontEnd())
    assert summary["scored"] == 3 and rows[0]["class_a"] == "cello"
    irm, mix = summary["methods"]["irm"]["sdr"], summary["methods"]["mixture"]["sdr"]
    assert irm > mix + 10, (irm, mix)
    assert all(r["irm_sdr"] > r["mixture_sdr"] for r in rows)


# ----------------------------------------------------------------------------------------------
# DDP: Lightning's ddp_spawn on 2 CPU processes (gloo) against one process on the same batch


class GradientDump(pl.Callback):
    """Saves every gradient at the first optimiser step (after DDP's all-reduce) and BatchNorm
    in eval mode, so the loss of a batch does not depend on how it is split."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.done = False

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        for module in pl_module.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                module.eval()

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        torch.set_num_threads(1)
        if self.done:
            return
        self.done = True
        grads = {
            name: p.grad.detach().clone()
            for name, p in pl_module.named_parameters()
            if p.grad is not None
        }
        torch.save(grads, f"{self.path}.rank{trainer.global_rank}")

    def on_validation_end(self, trainer, pl_module) -> None:
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if "val" in k}
        Path(f"{self.path}.val{trainer.global_rank}").write_text(json.dumps(metrics))


def run_one_batch(data: Layout, dump: Path, *, devices: int, batch_size: int) -> None:
    torch.manual_seed(0)
    refs = read_shard_index(shards(data, "train"))
    train = MixDataset(refs, spec=SPEC, frame_rate=1, seed=11, dup=2)
    # Three pairs: with two ranks one of them pads its share with an uncounted repeat.
    pairs = [((a, b), (c, d)) for a, b, c, d in PAIRS]
    val = MixDataset(refs, spec=SPEC, frame_rate=1, pairs=pairs)
    system = make_system(ModelConfig.tiny(**TINY, motion_dim=8, num_queries=4))
    module = SeparationData(train, val, batch_size=batch_size, val_batch_size=1, seed=11)
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=devices,
        strategy="ddp_spawn" if devices > 1 else "auto",
        max_epochs=1,
        limit_train_batches=1,
        num_sanity_val_steps=0,
        callbacks=[GradientDump(str(dump))],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        use_distributed_sampler=False,
        deterministic=True,
    )
    trainer.fit(system, datamodule=module)


def test_ddp_gradients_equal_one_process(data, tmp_path):
    run_one_batch(data, tmp_path / "one", devices=1, batch_size=4)
    run_one_batch(data, tmp_path / "ddp", devices=2, batch_size=2)
    one = torch.load(f"{tmp_path / 'one'}.rank0", weights_only=True)
    ranks = [torch.load(f"{tmp_path / 'ddp'}.rank{r}", weights_only=True) for r in range(2)]
    assert one.keys() == ranks[0].keys() == ranks[1].keys() and len(one) > 10
    for name, grad in one.items():
        assert torch.equal(ranks[0][name], ranks[1][name]), name  # all-reduced: identical
        assert torch.allclose(ranks[0][name], grad, rtol=1e-4, atol=1e-7), name
    # Validation after that step: the same mean over the three pairs on every rank.
    val_one = json.loads(Path(f"{tmp_path / 'one'}.val0").read_text())
    for r in range(2):
        val = json.loads(Path(f"{tmp_path / 'ddp'}.val{r}").read_text())
        assert val["val/sdr"] == pytest.approx(val_one["val/sdr"], rel=1e-3, abs=1e-3)
        assert val["val/loss"] == pytest.approx(val_one["val/loss"], rel=1e-3)


def test_evaluation_shares_pad_ranks_to_equal_length():
    from iquery.model.system import ShareSampler

    shares = [list(ShareSampler(5, rank, 2)) for rank in range(2)]
    assert shares[0] == [(0, True), (2, True), (4, True)]
    assert shares[1] == [(1, True), (3, True), (1, False)]
    assert list(ShareSampler(1, 1, 2)) == [(0, False)]
    assert list(ShareSampler(3, 0, 1)) == [(0, True), (1, True), (2, True)]


def test_changed_settings_are_refused_or_restart(tmp_path):
    run = RunFolder(str(tmp_path / "run"))
    Path(run.checkpoints).mkdir(parents=True)
    Path(run.last_checkpoint).write_bytes(b"old")
    Path(run.settings).write_text(json.dumps({"lr_sound": 1e-4, "epochs": 5, "data": "a"}))
    # More epochs is a resumption, not a change.
    check_resume(run, {"lr_sound": 1e-4, "epochs": 9, "data": "a"})
    with pytest.raises(ConfigError, match=r"different settings \(data, lr_sound\)"):
        check_resume(run, {"lr_sound": 1e-3, "epochs": 5, "data": "b"})
    assert Path(run.last_checkpoint).is_file()
    check_resume(run, {"lr_sound": 1e-3, "epochs": 5, "data": "b"}, on_change="restart")
    assert not Path(run.checkpoints).exists() and not Path(run.settings).exists()
