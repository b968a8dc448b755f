"""Teaching a trained iQuery model a new class by query expansion.

The paper adapts a trained model to a new class the way prompt tuning adapts a language model:
one query is added for the class and tuned on a few of its videos while the attention stays
frozen. Here the new class takes a spare query slot, starting from the value that slot was
trained with (so that, before any step, the old classes separate exactly as before), or a new
slot, starting from the mean of the class queries, when no spare is left. One of two recipes
is trained:

* ``query``: the new query alone. Every other parameter, and the BatchNorm statistics, stay
  bit for bit what they were. The old classes' separations still move a little: the decoder's
  queries attend to each other, so a changed query is seen by every class.
* ``query+mask``: the new query and the mask head (the MLP that turns a query's output into its
  mask embedding), which every class shares, so the old classes can move more.

Training mixes each video of the new class with a video of another class, as training does,
with the model in eval mode: frozen layers keep their running statistics and no dropout, and
only the trainable parameters move. ``expand`` writes a checkpoint that evaluation and
``separate`` read like any other, its class list ending with the new class.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from iquery.model.shard_dataset import ClipSpec, MixDataset, VideoRef, collate, for_classes
from iquery.model.system import SeparationSystem

MODES = ("query", "query+mask")


@dataclass
class Expansion:
    """What one expansion did: the new class's query slot, what trained, and the loss."""

    new_class: str
    query_index: int
    mode: str
    trainable: int
    steps: int
    seconds: float
    losses: list[float]


def add_class(system: SeparationSystem, new_class: str) -> int:
    """Give ``new_class`` a query: the next spare slot, or a new one. Returns its index; the
    system's class list (``hparams.data_spec``) then ends with the new class."""
    spec = system.hparams.data_spec
    classes = list(spec.get("classes") or [])
    if new_class in classes:
        raise ValueError(f"the model already knows {new_class!r}")
    predictor = getattr(system.model, "predictor", None)
    if predictor is None:
        raise ValueError(f"variant {system.hparams.variant!r} has no class queries to expand")
    index = len(classes)
    table = predictor.query_embed
    if index >= table.num_embeddings:  # no spare slot left: one more query
        grown = torch.nn.Embedding(index + 1, table.embedding_dim)
        with torch.no_grad():
            grown.weight[:index] = table.weight
            grown.weight[index] = table.weight[:index].mean(dim=0)
        predictor.query_embed = grown
        predictor.num_queries = index + 1
        system.hparams.model_config["num_queries"] = index + 1
    spec["classes"] = [*classes, new_class]
    return index


def trainable_parameters(system: SeparationSystem, mode: str, index: int) -> list:
    """Freeze everything, then free what ``mode`` trains. Only row ``index`` of the query
    table learns: the other rows' gradients are zeroed, and Adam without weight decay leaves
    a parameter with zero gradients exactly where it was."""
    if mode not in MODES:
        raise ValueError(f"mode {mode!r}: use one of {', '.join(MODES)}")
    for p in system.parameters():
        p.requires_grad_(False)
    table = system.model.predictor.query_embed.weight
    table.requires_grad_(True)
    keep = torch.zeros_like(table)
    keep[index] = 1.0
    table.register_hook(lambda grad: grad * keep)
    params = [table]
    if mode == "query+mask":
        head = list(system.model.predictor.mask_mlp.parameters())
        for p in head:
            p.requires_grad_(True)
        params += head
    return params


def mixtures_with(refs: list[VideoRef], new_class: str, dup: int) -> list[int]:
    """Indices of a training MixDataset over ``refs`` whose first source is of ``new_class``."""
    first = [i for i, r in enumerate(refs) if r.cls == new_class]
    return [k * len(refs) + i for k in range(dup) for i in first]


def expand(
    system: SeparationSystem,
    new_class: str,
    refs: list[VideoRef],
    *,
    frame_rate: float,
    mode: str = "query",
    steps: int = 300,
    batch_size: int = 8,
    lr: float = 1e-3,
    seed: int = 0,
    log=print,
) -> Expansion:
    """Add ``new_class`` to ``system`` and train it on ``refs`` (the train split's videos: the
    new class's, mixed with the known classes'), in place."""
    index = add_class(system, new_class)
    classes = system.hparams.data_spec["classes"]
    refs = for_classes(refs, classes)
    if not any(r.cls == new_class for r in refs):
        raise ValueError(f"no video of {new_class!r} to learn it from")
    params = trainable_parameters(system, mode, index)
    optimizer = torch.optim.Adam(params, lr=lr, weight_decay=0.0)
    spec = ClipSpec.from_settings(system.hparams.data_spec)
    dataset = MixDataset(
        refs,
        spec=spec,
        frame_rate=frame_rate,
        seed=seed,
        dup=max(1, -(-steps * batch_size // max(1, len(refs)))),
        use_motion=system.uses_motion,
    )
    chosen = mixtures_with(refs, new_class, dataset.dup)
    order = np.random.default_rng(seed).permutation(len(chosen))
    system.eval()  # frozen layers keep their statistics; no dropout
    losses, started = [], time.time()
    for step in range(steps):
        picked = [chosen[order[(step * batch_size + j) % len(chosen)]] for j in range(batch_size)]
        batch = collate([dataset[i] for i in picked])
        loss = system.loss_and_masks(batch)[0].mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if log and (step + 1) % 50 == 0:
            recent = np.mean(losses[-50:])
            log(f"expand {new_class} ({mode}): step {step + 1}/{steps}, loss {recent:.4f}")
    for p in system.parameters():
        p.requires_grad_(False)
    # One row of the query table, and the mask head when it trains.
    trainable = params[0].shape[1] + sum(int(p.numel()) for p in params[1:])
    return Expansion(
        new_class, index, mode, trainable, steps, round(time.time() - started, 1), losses
    )


def save_expanded(system: SeparationSystem, expansion: Expansion, path) -> None:
    """A checkpoint that ``load_separator`` (evaluation, ``separate``) reads like a trained one."""
    from iquery.pipeline.core.files import atomic_path

    system.hparams.data_spec["expanded"] = {
        "new_class": expansion.new_class,
        "mode": expansion.mode,
        "steps": expansion.steps,
        "from_config_hash": system.hparams.data_spec.get("config_hash"),
    }
    hparams = dict(system.hparams.items())
    with atomic_path(path) as tmp:
        torch.save({"hyper_parameters": hparams, "state_dict": system.state_dict()}, tmp)
