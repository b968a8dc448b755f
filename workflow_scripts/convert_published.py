"""Turn a published iQuery checkpoint (three state dicts) into a checkpoint this project loads.

    python -m workflow_scripts.convert_published --sound ckpt/sound_best.pth \
        --frame ckpt/frame_best.pth --maskformer ckpt/maskformer_best.pth \
        --dataset music --variant iquery --out results/music/published/published.ckpt

The classes fix the query order, so they must be the published ones: ``--dataset`` gives the
published MUSIC or MUSIC-21 list; ``--classes`` names another list in order. The result loads
with ``model.system.load_system`` and evaluates or separates like a checkpoint trained here. See
``model/published.py`` for the name table and why some published tensors are dropped.
"""

from __future__ import annotations

import argparse
import sys

from model.published import PUBLISHED_CLASSES, Conversion, convert_files, rule_summary
from pipeline.errors import ConfigError


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
    classes = parser.add_mutually_exclusive_group(required=True)
    classes.add_argument("--dataset", choices=sorted(PUBLISHED_CLASSES))
    classes.add_argument("--classes", nargs="+", help="class names in query order")
    parser.add_argument("--variant", choices=["iquery", "nomotion"], default="iquery")
    parser.add_argument("--spare-queries", type=int, default=1, help="queries beyond the classes")
    parser.add_argument("--out", required=True, help="the checkpoint to write")
    args = parser.parse_args(argv)
    names = PUBLISHED_CLASSES[args.dataset] if args.dataset else args.classes
    try:
        conversion = convert_files(
            args.sound,
            args.frame,
            args.maskformer,
            args.out,
            names,
            args.variant,
            spare_queries=args.spare_queries,
        )
    except ConfigError as err:
        raise SystemExit(f"convert_published: {err}") from err
    print("\n".join(describe(conversion)))
    print(f"{args.out}: {args.variant}, {len(names)} classes", file=sys.stderr)


if __name__ == "__main__":
    main()
