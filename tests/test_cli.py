"""The ``iquery`` console command: the tools a user runs by hand, as subcommands."""

import subprocess
import sys
from pathlib import Path

import pytest

from iquery.cli.main import COMMANDS, main

IQUERY = Path(sys.executable).parent / "iquery"


def test_the_installed_command_lists_and_runs_its_subcommands():
    listed = subprocess.run([IQUERY], capture_output=True, text=True, check=True).stdout
    assert all(name in listed for name in COMMANDS)
    for name in COMMANDS:
        helped = subprocess.run([IQUERY, name, "-h"], capture_output=True, text=True, check=True)
        assert helped.stdout.startswith(f"usage: iquery {name}"), helped.stdout[:200]


def test_an_unknown_subcommand_is_named():
    with pytest.raises(SystemExit, match="unknown command 'seperate'"):
        main(["seperate", "x.mp4"])
