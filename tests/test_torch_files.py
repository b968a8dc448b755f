"""Files that are not checkpoints of ours are refused with their name and what they are: text,
an HTML page, an empty or truncated file, a pickle that would run code, a checkpoint of another
kind. No message suggests loading a file unsafely."""

from __future__ import annotations

import os
import pickle

import pytest
import torch

from iquery.cli import evaluate
from iquery.model.system import load_system
from iquery.model.visual import load_resnet18_state, load_small_encoder
from iquery.pipeline.core.torch_files import CheckpointError, read_torch_file
from iquery.pipeline.motion.i3d import read_checkpoint


class RunsCode:
    """What a hostile checkpoint could hold: unpickling it would run a command."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture()
def files(tmp_path):
    made = {}
    made["text"] = tmp_path / "notes.ckpt"
    made["text"].write_text("epoch 3, loss 0.2\n")
    made["html"] = tmp_path / "page.ckpt"
    made["html"].write_text("<!DOCTYPE html><html><body>Not Found</body></html>")
    made["empty"] = tmp_path / "empty.ckpt"
    made["empty"].write_bytes(b"")
    whole = tmp_path / "whole.ckpt"
    torch.save({"state_dict": {"w": torch.zeros(64, 64)}}, whole)
    made["truncated"] = tmp_path / "truncated.ckpt"
    made["truncated"].write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    made["hostile"] = tmp_path / "hostile.ckpt"
    torch.save({"state_dict": RunsCode(tmp_path / "ran")}, made["hostile"])
    made["hostile_legacy"] = tmp_path / "hostile.pkl"
    made["hostile_legacy"].write_bytes(pickle.dumps(RunsCode(tmp_path / "ran"), protocol=2))
    made["bare"] = tmp_path / "bare.pt"
    torch.save({"conv.weight": torch.zeros(2, 2)}, made["bare"])
    made["lightning"] = tmp_path / "other.ckpt"
    torch.save({"state_dict": {}, "hyper_parameters": {"lr": 1e-3}}, made["lightning"])
    return made


EXPECTED = {
    "text": "not a torch file, so not a checkpoint: it is text: 'epoch 3, loss 0.2'",
    "html": "it starts like an HTML or XML page",
    "empty": "the file is empty",
    "truncated": "it is truncated or damaged",
    "hostile": "refused by the safe loader: it holds a reference to the Python function or "
    "class posix.system",
    "hostile_legacy": "refused by the safe loader: it holds a reference to the Python function "
    "or class posix.system",
    "bare": "holds a bare state dict of 1 tensors \\(the first: 'conv.weight'\\), not a "
    "checkpoint of this project",
    "lightning": "holds a Lightning checkpoint of another model, not a checkpoint of this project",
}


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_load_system_names_the_file_and_what_it_is(files, kind):
    with pytest.raises(CheckpointError, match=EXPECTED[kind]) as err:
        load_system(files[kind])
    message = str(err.value)
    assert message.startswith(str(files[kind]))
    assert "weights_only" not in message
    assert not (files[kind].parent / "ran").exists()  # the hostile file's command never ran


def test_every_reader_refuses_alike(files):
    """The I3D, ResNet and encoder readers share the one safe reader and its messages."""
    for reader in (read_checkpoint, load_resnet18_state, load_small_encoder):
        with pytest.raises(CheckpointError, match="refused by the safe loader") as err:
            reader(files["hostile"])
        assert str(files["hostile"]) in str(err.value) and "weights_only" not in str(err.value)
        with pytest.raises(CheckpointError, match="not a torch file"):
            reader(files["text"])
    with pytest.raises(CheckpointError, match="not a small object encoder's state dict"):
        load_small_encoder(files["bare"])
    with pytest.raises(FileNotFoundError, match="missing.pt does not exist"):
        read_torch_file(files["text"].parent / "missing.pt")
    assert not (files["text"].parent / "ran").exists()


def test_the_cli_says_it_in_one_line(files, tmp_path):
    with pytest.raises(SystemExit) as err:
        evaluate.main(
            [
                *("--checkpoint", str(files["truncated"]), "--shards", "x.json"),
                *("--pairs", "p.tsv", "--metrics", str(tmp_path / "m.json")),
                *("--per-pair", str(tmp_path / "p.tsv")),
            ]
        )
    message = str(err.value.code)
    assert message.startswith(f"evaluate: {files['truncated']}: not a readable checkpoint")
    assert "\n" not in message and "weights_only" not in message
