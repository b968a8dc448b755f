"""Training step time and peak memory of iQuery at the paper's sizes, per precision, side by side.

    python bench/bench_train.py [--batch 8] [--steps 3] [--modes fp32 bf16] [--model paper]

One step = what ``SeparationSystem.training_step`` does: spectral front end, U-Net, visual net
(frozen ResNet-18, as with ImageNet weights), transformer, weighted L1, backward, Adam + AdamW.
Inputs have the paper's MUSIC shapes (65535 samples, 3 frames of 224 x 224 per source, 1024-d
motion tokens for 160 s) with random values and random weights: the arithmetic is the same as
with real ones. Modes: ``fp32`` (eager, no compilation: the obvious baseline) and ``bf16``
(autocast, what training uses on a GPU); ``bf16-compile`` is bf16 with each network compiled
by ``torch.compile`` (its compile time, in the first steps, is printed apart). Each mode runs
in its own process, so peak memory is its own: max RSS on the CPU,
``torch.cuda.max_memory_allocated`` on a GPU. The batch is per device (the paper: 8 per GPU).
Figures are printed, never checked.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

MODES = ("fp32", "bf16", "bf16-compile")


def one_mode(mode: str, batch_size: int, steps: int, model: str, threads: int | None) -> dict:
    import torch

    from iquery.model.iquery import ModelConfig
    from iquery.model.settings import load_settings
    from iquery.model.system import SeparationSystem

    if threads:
        torch.set_num_threads(threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(0)
    config = ModelConfig(freeze_visual=True) if model == "paper" else ModelConfig.tiny()
    # iQuery with the paper's recipe: its Adam and AdamW, as training builds them.
    settings = load_settings({"variant": "iquery", "seed": 0})
    system = SeparationSystem.from_settings(config, settings, {}).to(device)
    optimizers = system.configure_optimizers()[0]
    n, clip, tokens = 2, 65535, 20  # 160 frames at 1 fps, I3D stride 8
    batch = {
        "audio": torch.rand(batch_size, n, clip, device=device) * 0.2 - 0.1,
        "frames": torch.randint(0, 256, (batch_size, n, 3, 3, 224, 224), dtype=torch.uint8).to(
            device
        ),
        "class_index": torch.randint(0, 11, (batch_size, n), device=device),
        "motion": torch.randn(batch_size, n, tokens, config.motion_dim, device=device),
        "motion_padding": torch.zeros(batch_size, n, tokens, dtype=torch.bool, device=device),
    }

    if mode.endswith("-compile"):
        for network in system.model.children():  # U-Net, visual net, transformer, ...
            network.compile()

    def step() -> float:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=mode.startswith("bf16")):
            loss = system.loss_and_masks(batch)[0].mean()
        for opt in optimizers:
            opt.zero_grad(set_to_none=True)
        loss.backward()
        for opt in optimizers:
            opt.step()
        return float(loss)

    system.train()
    start = time.perf_counter()
    step()  # warm-up: allocator, kernels (and compilation)
    step()
    warm_up = time.perf_counter() - start
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated() / 2**20
        where = torch.cuda.get_device_name()
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        where = f"cpu, {torch.get_num_threads()} threads"
    return {
        "mode": mode,
        "device": where,
        "batch": batch_size,
        "seconds_per_step": sum(times) / len(times),
        "warm_up_seconds": warm_up,
        "peak_mib": peak,
        "trainable_params": sum(p.numel() for p in system.parameters() if p.requires_grad),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=8, help="per device (the paper: 8)")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--modes", nargs="+", default=["fp32", "bf16"], choices=MODES)
    parser.add_argument("--model", choices=["paper", "tiny"], default="paper")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one mode, print JSON
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one_mode(args.one, args.batch, args.steps, args.model, args.threads)))
        return
    rows = []
    for mode in args.modes:
        cmd = [sys.executable, __file__, "--one", mode, "--batch", str(args.batch)]
        cmd += ["--steps", str(args.steps), "--model", args.model]
        if args.threads:
            cmd += ["--threads", str(args.threads)]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:  # one mode failing (no compiler, out of memory) is a figure too
            print(f"{mode}: failed: {done.stderr.strip().splitlines()[-1:]}")
            continue
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    if not rows:
        raise SystemExit("every mode failed")
    base = rows[0]["seconds_per_step"]
    print(f"iQuery training step, {args.model} model, batch {args.batch} per device")
    print(
        f"{'mode':12} {'device':28} {'s/step':>8} {'vs ' + rows[0]['mode']:>8} "
        f"{'peak MiB':>9} {'warm-up s':>9}"
    )
    for r in rows:
        print(
            f"{r['mode']:12} {r['device'][:28]:28} {r['seconds_per_step']:8.3f} "
            f"{base / r['seconds_per_step']:7.2f}x {r['peak_mib']:9.0f} {r['warm_up_seconds']:9.1f}"
        )
    print(f"trainable parameters: {rows[0]['trainable_params']:,}")


if __name__ == "__main__":
    main()
