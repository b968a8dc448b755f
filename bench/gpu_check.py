"""The GPU checks, one section at a time (``bench/gpu_check.sh`` runs them all, in budget).

    python bench/gpu_check.py env | train | demo | ddp | detectors  [--out FOLDER] [--smoke]

- ``env``: the machine (nvidia-smi, torch, CUDA) and which optional packages import.
- ``train``: ``bench_train.py`` at the paper's MUSIC sizes, fp32 / bf16 / bf16 + torch.compile,
  batch 8 and 64 per device: seconds per step and peak memory.
- ``demo``: the demo's three runs (iquery, nomotion, sop) trained on the GPU from the demo's
  shards (``data/demo/shards``, made by ``snakemake preprocess_demo``), with config.yaml's demo
  settings, each stopped at the first epoch end after 36 s: wall time, epochs and steps done,
  seconds per batch and the best validation SDR.
- ``ddp``: the iquery demo run over every visible GPU (Lightning's DDP), time and SDR.
- ``detectors``: OWLv2 (transformers, random weights, default config) and the I3D Inception
  backbone (random weights) forward passes, in frames per second.

``--smoke`` shrinks every section (tiny model, few steps, small inputs) so that the whole
script can be checked on a CPU; its figures mean nothing. Every figure is printed and written
to ``--out`` as JSON, never checked.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEMO_RUNS = ("iquery", "nomotion", "sop")
OPTIONAL = ("torchvision", "transformers", "h5py", "PIL", "scipy", "mir_eval", "yaml")


def write(out: Path, name: str, figures) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(figures, indent=1))


def section_env(args) -> dict:
    import torch

    try:
        listed = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True).stdout
    except OSError:
        listed = "no nvidia-smi"
    found = {}
    for name in OPTIONAL:
        try:
            module = importlib.import_module(name)
            found[name] = getattr(module, "__version__", "yes")
        except ImportError as err:
            found[name] = f"missing ({err})"
    figures = {
        "gpus": listed.strip().splitlines(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cuda_available": torch.cuda.is_available(),
        "packages": found,
    }
    print(json.dumps(figures, indent=1))
    return figures


def section_train(args) -> dict:
    model, steps, batches = ("tiny", 1, [2]) if args.smoke else ("paper", 5, [8, 64])
    figures = {}
    for batch in batches:
        command = [sys.executable, str(ROOT / "bench" / "bench_train.py"), "--model", model]
        command += ["--batch", str(batch), "--steps", str(steps)]
        command += ["--modes", *(["fp32"] if args.smoke else ["fp32", "bf16", "bf16-compile"])]
        done = subprocess.run(command, capture_output=True, text=True)
        print(done.stdout + done.stderr[-2000:] * (done.returncode != 0))
        figures[f"batch{batch}"] = done.stdout
    return figures


def demo_settings(run: str, smoke: bool, **extra) -> dict:
    import yaml

    from iquery.model.settings import run_settings, with_crops_encoder

    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    settings = run_settings(config, "demo", run)
    # The demo's object encoder, where it was carried beside the shards; else a random one of
    # the same shape (the same arithmetic: only the figures of the runs would differ).
    encoder = ROOT / "data" / "demo" / "visual_encoder" / "encoder.pt"
    settings = with_crops_encoder(settings, encoder if encoder.is_file() else None).to_dict()
    # The demo's CPU sizing (one thread, no loader workers) would starve a GPU.
    settings |= {"threads": None, "num_workers": 4, "accelerator": "auto"}
    # Within the section's budget: a run stops at the first epoch end after 36 s (the summary
    # says how many of its epochs it did).
    settings["max_minutes"] = 0.6
    if smoke:
        smaller = settings["model_overrides"] | {"ngf": 4}
        settings |= {"epochs": 1, "dup": 1, "num_workers": 0, "model_overrides": smaller}
    return settings | extra


def train_once(run: str, settings: dict, out: Path, shards: Path) -> dict:
    folder = out / "runs" / run
    command = [
        sys.executable, "-m", "iquery.cli.train",
        "--train-shards", str(shards / "train.json"), "--select-shards", str(shards / "val.json"),
        "--run-dir", str(folder), "--config-json", json.dumps(settings), "--on-change=restart",
    ]  # fmt: skip
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        print(done.stdout[-1500:] + done.stderr[-3000:])
        return {"run": run, "failed": done.stderr.strip().splitlines()[-1:], "seconds": seconds}
    summary = json.loads((folder / "train_summary.json").read_text())
    row = {
        "run": run,
        "seconds": round(seconds, 1),
        "epochs": summary["epochs_completed"],
        "steps": summary["optimizer_steps"],
        "seconds_per_batch": summary["seconds_per_batch"],
        "best_val_sdr": summary["best_val_sdr"],
        "precision": summary["runtime"]["precision"],
        "world_size": summary["world_size"],
    }
    print(json.dumps(row))
    return row


def section_demo(args) -> dict:
    return {
        run: train_once(run, demo_settings(run, args.smoke), args.out, args.shards)
        for run in DEMO_RUNS
    }


def section_ddp(args) -> dict:
    import torch

    count = max(torch.cuda.device_count(), 1 if args.smoke else 0)
    if count == 0:
        return {"skipped": "no GPU visible"}
    extra = {"devices": count, "strategy": "ddp"}
    if args.smoke:
        extra |= {"devices": 2, "accelerator": "cpu"}
    return train_once("iquery", demo_settings("iquery", args.smoke, **extra), args.out / "ddp",
                      args.shards)  # fmt: skip


def frames_per_second(forward, frames: int, repeats: int, device) -> float:
    import torch

    forward()  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        forward()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return frames * repeats / (time.perf_counter() - start)


def section_detectors(args) -> dict:
    import torch

    from iquery.pipeline.motion.i3d import build_backbone

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    figures = {}
    size, clip, repeats = (64, 8, 1) if args.smoke else (224, 64, 5)
    with torch.inference_mode():
        i3d = build_backbone("inception").to(device)
        for dtype in (torch.float32, torch.bfloat16):
            video = torch.rand(1, 3, clip, size, size, device=device)
            with torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
                fps = frames_per_second(lambda v=video: i3d(v), clip, repeats, device)
            figures[f"i3d_inception_{str(dtype)[6:]}"] = round(fps, 1)
        try:
            from transformers import Owlv2Config, Owlv2ForObjectDetection
        except ImportError as err:
            figures["owlv2"] = f"skipped: {err}"
        else:
            config = Owlv2Config()
            side = 64 if args.smoke else config.vision_config.image_size  # 960
            if args.smoke:
                config.vision_config.image_size, config.vision_config.num_hidden_layers = 64, 1
                config.text_config.num_hidden_layers = 1
            owl = Owlv2ForObjectDetection(config).to(device).eval()
            batch = 1 if args.smoke else 8
            pixels = torch.rand(batch, 3, side, side, device=device)
            prompts = torch.randint(0, 1000, (21, 16), device=device)  # MUSIC-21's classes
            mask = torch.ones_like(prompts)
            for dtype in (torch.float32, torch.bfloat16):
                with torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
                    fps = frames_per_second(
                        lambda: owl(input_ids=prompts, pixel_values=pixels, attention_mask=mask),
                        batch,
                        repeats,
                        device,
                    )
                figures[f"owlv2_{side}px_{str(dtype)[6:]}"] = round(fps, 1)
    print(json.dumps(figures))
    return figures


SECTIONS = {
    "env": section_env,
    "train": section_train,
    "demo": section_demo,
    "ddp": section_ddp,
    "detectors": section_detectors,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("section", choices=SECTIONS)
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", "gpu_check")))
    parser.add_argument("--shards", type=Path, default=ROOT / "data" / "demo" / "shards")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: check it runs (CPU)")
    args = parser.parse_args()
    args.out = args.out.resolve()
    args.shards = args.shards.resolve()
    start = time.perf_counter()
    figures = SECTIONS[args.section](args)
    write(args.out, args.section, {"seconds": round(time.perf_counter() - start, 1), **figures})


if __name__ == "__main__":
    main()
