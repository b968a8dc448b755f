"""Reading torch files (checkpoints, state dicts) safely, with errors that say what the file is.

Every torch file the project reads goes through ``read_torch_file``: ``torch.load`` with
``weights_only=True``, which unpickles tensors and plain containers only and refuses anything
that could run code. torch's own errors name neither the file nor what is wrong with it, and
some suggest turning the safe load off; the messages here name the file and say what it is: not
a torch file at all (text, an HTML page saved by a failed download), empty, truncated, or a
pickle holding objects the safe load refuses. They never suggest loading it unsafely.
"""

from __future__ import annotations

import pickle
import re
import zipfile
from collections.abc import Mapping
from pathlib import Path

ZIP_MAGIC = b"PK\x03\x04"  # torch.save's format since 1.6
PICKLE_PROTOCOL = 0x80  # the legacy format starts with a pickle's PROTO opcode


class CheckpointError(ValueError):
    """A weights file that cannot be read, or that is not what the caller expects."""


def describe_start(head: bytes) -> str:
    """What the first bytes of a file that is not a torch file look like."""
    text = head.lstrip()
    if text[:1] == b"<":
        return "it starts like an HTML or XML page (a failed download saved as the file?)"
    if text[:1] in (b"{", b"["):
        return "it starts like JSON"
    try:
        sample = head[:40].decode("ascii")
    except UnicodeDecodeError:
        return f"it starts with bytes {head[:8]!r}, which no torch file starts with"
    if sample.isprintable() or sample.replace("\n", "").replace("\r", "").isprintable():
        return f"it is text: {sample.splitlines()[0][:40]!r}"
    return f"it starts with bytes {head[:8]!r}, which no torch file starts with"


def refused_reason(message: str) -> str:
    """The line of torch's weights-only refusal that says what was refused, without its advice."""
    found = re.search(r"unsupported GLOBAL ([\w.]+)", message, re.IGNORECASE)
    if found:
        return f"a reference to the Python function or class {found.group(1)}"
    found = re.search(r"Unsupported operand (\d+)", message)
    if found:
        return f"pickle data torch does not write (opcode {int(found.group(1))})"
    return "objects other than tensors and plain values"


def read_torch_file(path: str | Path, what: str = "checkpoint", map_location="cpu") -> object:
    """``torch.load(path, weights_only=True)``; any failure is a CheckpointError naming the
    file, what was expected (``what``) and what the file is instead."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} {path} does not exist")
    with open(path, "rb") as handle:
        head = handle.read(64)
    if not head:
        raise CheckpointError(f"{path}: the file is empty, not a {what}")
    if not (head.startswith(ZIP_MAGIC) or head[0] == PICKLE_PROTOCOL):
        raise CheckpointError(f"{path}: not a torch file, so not a {what}: {describe_start(head)}")
    truncated = f"{path}: not a readable {what}: it is truncated or damaged (an interrupted copy?)"
    if head.startswith(ZIP_MAGIC) and not zipfile.is_zipfile(path):
        raise CheckpointError(truncated)  # a zip archive without its closing directory
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        if "truncated" in str(err):
            raise CheckpointError(truncated) from None
        raise CheckpointError(
            f"{path}: refused by the safe loader: it holds {refused_reason(str(err))}. "
            f"A {what} holds tensors and plain values only; a file that needs more was not "
            "written by this project, and could run code when loaded"
        ) from None
    except (RuntimeError, EOFError, ValueError) as err:  # an OSError is the machine's: raised
        first = str(err).strip().splitlines()[0][:160] if str(err).strip() else type(err).__name__
        if "central directory" in first or isinstance(err, EOFError) or "truncated" in first:
            raise CheckpointError(truncated) from None
        raise CheckpointError(
            f"{path}: not a readable {what}: torch cannot read it ({first})"
        ) from None


def describe_contents(obj: object) -> str:
    """A few words on what a loaded torch file holds, for 'expected X, found Y' messages."""
    if not isinstance(obj, Mapping):
        return f"a {type(obj).__name__}"
    keys = list(obj)
    if "state_dict" in obj and "hyper_parameters" in obj:
        hparams = obj["hyper_parameters"]
        ours = isinstance(hparams, Mapping) and "model_config" in hparams
        return "a Lightning checkpoint" if ours else "a Lightning checkpoint of another model"
    tensors = [k for k in keys if hasattr(obj[k], "shape")]
    if keys and len(tensors) == len(keys):
        return f"a bare state dict of {len(keys)} tensors (the first: {keys[0]!r})"
    return f"a dict with keys {', '.join(map(repr, keys[:5]))}{' ...' if len(keys) > 5 else ''}"
