"""The ``iquery`` console command: the tools a user runs by hand, as subcommands.

    iquery separate --video duet.mp4 --summary results/demo/iquery/seed-1234/train_summary.json ...
    iquery convert --checkpoint published/ --out iquery_music.pt ...
    iquery expand ...

Each is the same as ``python -m iquery.cli.<module>`` with the same options; ``iquery NAME -h``
lists them.
"""

from __future__ import annotations

import importlib
import sys

COMMANDS = {
    "separate": ("iquery.cli.separate", "separate a video's instruments with a trained model"),
    "convert": ("iquery.cli.convert_published", "convert a published iQuery checkpoint"),
    "expand": ("iquery.cli.expand", "teach a trained model a new instrument class"),
}


def usage() -> str:
    lines = ["usage: iquery COMMAND [options]   (iquery COMMAND -h for its options)", ""]
    lines += [f"  {name:<10}{about}" for name, (_, about) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return
    if argv[0] not in COMMANDS:
        raise SystemExit(f"iquery: unknown command {argv[0]!r}\n\n{usage()}")
    module, _ = COMMANDS[argv[0]]
    sys.argv[0] = f"iquery {argv[0]}"  # argparse names the subcommand in its messages
    importlib.import_module(module).main(argv[1:])


if __name__ == "__main__":
    main()
