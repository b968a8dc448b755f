"""Turn a published iQuery checkpoint (three state dicts) into a checkpoint this project loads.

    python -m iquery.cli.convert_published --sound ckpt/sound_best.pth \
        --frame ckpt/frame_best.pth --maskformer ckpt/maskformer_best.pth \
        --dataset music --variant iquery --out results/music/published/published.ckpt

``--dataset`` (music, music21 or ave) says what the files were trained on, and is required: it
gives the published class order (the query order) and the data settings the model is evaluated
with (clip length, STFT hop, frames per clip, rates; from ``config.yaml``'s block of that dataset
and its iquery run). ``--classes`` names another class list, in order. The result loads with
``iquery.model.separator.load_separator`` and evaluates or separates like a checkpoint trained
here. See
``iquery/model/published.py`` for the name table and why some published tensors are dropped.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from iquery.model.published import (
    PUBLISHED_CLASSES,
    Conversion,
    convert_files,
    published_data,
    rule_summary,
)
from iquery.pipeline.core.errors import ConfigError
from iquery.pipeline.core.torch_files import CheckpointError

CONFIG = Path(__file__).resolve().parents[2] / "config.yaml"


def describe(conversion: Conversion) -> list[str]:
    """What was mapped (module by module) and what was dropped, one line each."""
    lines = [f"mapped {len(conversion.mapped)} tensors:"]
    for rule, count in rule_summary(conversion):
        reshaped = "  (Conv1d weight → Linear)" if rule.conv1d_to_linear else ""
        lines.append(f"  {rule.part}:{rule.published} → {rule.ours}  [{count}]{reshaped}")
    lines.append(
        f"dropped {len(conversion.dropped)} tensors of modules the forward pass never runs:"
    )
    lines += [f"  {module.part}:{key}  ({module.why})" for module, key in conversion.dropped]
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sound", required=True, help="the published sound_*.pth (U-Net)")
    parser.add_argument("--frame", required=True, help="the published frame_*.pth (ResNet)")
    parser.add_argument("--maskformer", required=True, help="the published maskformer_*.pth")
    parser.add_argument(
        "--dataset", required=True, choices=sorted(PUBLISHED_CLASSES),
        help="what the files were trained on: its class order and data settings",
    )  # fmt: skip
    parser.add_argument(
        "--classes", nargs="+", help="class names in query order, if not the dataset's"
    )
    parser.add_argument(
        "--variant", choices=["iquery", "nomotion"], default=None,
        help="default: the dataset's iquery run's (nomotion for AVE)",
    )  # fmt: skip
    parser.add_argument("--config", type=Path, default=CONFIG, help="the workflow config to read")
    parser.add_argument("--out", required=True, help="the checkpoint to write")
    args = parser.parse_args(argv)
    names = args.classes or list(PUBLISHED_CLASSES[args.dataset])
    try:
        config = yaml.safe_load(args.config.read_text())
        data = published_data(config, args.dataset, args.variant)
        conversion = convert_files(args.sound, args.frame, args.maskformer, args.out, names, data)
    except (ConfigError, CheckpointError, FileNotFoundError) as err:
        raise SystemExit(f"convert_published: {err}") from err
    print("\n".join(describe(conversion)))
    settings = data.settings
    print(
        f"{args.out}: {args.dataset}, {settings.variant}, {len(names)} classes; clips of "
        f"{settings.clip_samples} samples at {data.audio_rate} Hz, hop {settings.hop}, "
        f"{settings.num_frames} frames at {data.frame_rate:g} fps",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
