"""Forward time per clip and peak memory of the I3D backbones on the CPU, side by side.

    python bench/bench_i3d.py [--sizes 16x112 16x224] [--repeats 3] [--threads N] [--batch 1]

Measures ``iquery.pipeline.motion.i3d.build_backbone(name)`` in eval mode under
``torch.inference_mode``: the R50 trunk built from pytorchvideo's ``i3d_r50`` and, beside it, the
Inception-v1 I3D (FAME's port, the paper's backbone and the obvious alternative), on random clips of
T frames of S x S pixels. Weights are random: the arithmetic is that of the real ones. Both use
running BN statistics (``--norm-stats``), so they do the same kind of work per layer. Each
(backbone, size) runs in its own process, so its max RSS is its own: ``model MiB`` is the RSS
high-water mark once the network is built, ``peak MiB`` the one after the forward passes. ``build
s`` includes importing the backbone's code (pytorchvideo pulls in torchvision and fvcore). Time per
clip is the median over ``--repeats`` timed passes after one warm-up, divided by the batch. Figures
are printed, never checked.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

BACKBONES = ("r50", "inception")


def max_rss_mib() -> float:
    # ru_maxrss is in KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def one_run(
    backbone: str, frames: int, size: int, batch: int, repeats: int, threads: int | None, stats: str
) -> dict:
    start = time.perf_counter()
    import torch

    from iquery.pipeline.motion.i3d import build_backbone, param_count

    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = build_backbone(backbone, norm_stats=stats)
    build_s = time.perf_counter() - start
    model_mib = max_rss_mib()
    x = torch.rand(batch, 3, frames, size, size)
    times = []
    with torch.inference_mode():
        out = model(x)  # warm-up: allocator, kernel selection
        for _ in range(repeats):
            t0 = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - t0)
    return {
        "backbone": model.extractor,
        "input": f"{batch}x3x{frames}x{size}x{size}",
        "output": "x".join(map(str, out.shape)),
        "params": param_count(model),
        "threads": torch.get_num_threads(),
        "build_s": build_s,
        "ms_per_clip": statistics.median(times) * 1000 / batch,
        "min_ms_per_clip": min(times) * 1000 / batch,
        "model_mib": model_mib,
        "peak_mib": max_rss_mib(),
    }


def parse_size(text: str) -> tuple[int, int]:
    try:
        frames, size = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not FRAMESxSIZE, e.g. 16x224") from None
    return frames, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes",
        nargs="+",
        type=parse_size,
        default=[(16, 112), (16, 224)],
        help="FRAMESxSIZE clips (square frames); default 16x112 16x224",
    )
    parser.add_argument("--backbones", nargs="+", choices=BACKBONES, default=list(BACKBONES))
    parser.add_argument("--repeats", type=int, default=3, help="timed passes after a warm-up")
    parser.add_argument("--batch", type=int, default=1, help="clips per forward pass")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--norm-stats", choices=("running", "per_video"), default="running")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: one run, printed as JSON
    args = parser.parse_args()
    if args.repeats < 1 or args.batch < 1:
        parser.error("--repeats and --batch must be at least 1")
    if args.one:
        backbone, frames, size = args.one.split(",")
        row = one_run(
            backbone,
            int(frames),
            int(size),
            args.batch,
            args.repeats,
            args.threads,
            args.norm_stats,
        )
        print(json.dumps(row))
        return

    rows = []
    for frames, size in args.sizes:
        for backbone in args.backbones:
            cmd = [sys.executable, __file__, "--one", f"{backbone},{frames},{size}"]
            cmd += ["--repeats", str(args.repeats), "--batch", str(args.batch)]
            cmd += ["--norm-stats", args.norm_stats]
            if args.threads:
                cmd += ["--threads", str(args.threads)]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
            rows.append(json.loads(out.strip().splitlines()[-1]))

    print(
        f"I3D backbones, CPU, {rows[0]['threads']} threads, batch {args.batch}, "
        f"median of {args.repeats}, BN {args.norm_stats}"
    )
    header = (
        f"{'backbone':22} {'input':18} {'output':18} {'ms/clip':>9} {'min':>9} "
        f"{'build s':>8} {'model MiB':>10} {'peak MiB':>9}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['backbone']:22} {r['input']:18} {r['output']:18} {r['ms_per_clip']:9.1f} "
            f"{r['min_ms_per_clip']:9.1f} {r['build_s']:8.2f} {r['model_mib']:10.0f} "
            f"{r['peak_mib']:9.0f}"
        )
    params = {r["backbone"]: r["params"] for r in rows}
    print("parameters: " + ", ".join(f"{k} {v:,}" for k, v in params.items()))


if __name__ == "__main__":
    main()
