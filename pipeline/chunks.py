"""Chunk files: what one batched job (detection, motion) computed for its share of the videos.

A dataset's videos are dealt to a fixed number of chunks (``pipeline.layout.chunk_of``), so a
job loads its network once for many videos; each video's result is then cut out of the chunk
into its own file in the original layout, which is what later stages read. A chunk is an HDF5
file with one group per video (``{cls}/{vid}``) holding that video's arrays.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import h5py
import numpy as np

from pipeline.files import atomic_path


def write_chunk(path: str | Path, items: Mapping[str, Mapping[str, np.ndarray]]) -> None:
    """Write ``{video key: {name: array}}``; text arrays are kept as attributes."""
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as h5:
            for key, arrays in items.items():
                group = h5.create_group(key)
                for name, value in arrays.items():
                    value = np.asarray(value)
                    if value.dtype.kind == "U":
                        group.attrs[name] = str(value)
                    else:
                        group.create_dataset(name, data=value)


def read_chunk_item(path: str | Path, key: str) -> dict[str, np.ndarray]:
    """One video's arrays from a chunk; a missing chunk or video names the file and the fix."""
    try:
        with h5py.File(path, "r") as h5:
            if key not in h5:
                raise KeyError(key)
            group = h5[key]
            item = {name: np.asarray(data[()]) for name, data in group.items()}
            item |= {name: np.array(value) for name, value in group.attrs.items()}
    except (OSError, KeyError) as err:
        raise FileNotFoundError(
            f"{path}: no result for {key} ({err}); delete the chunk file and rerun to redo it"
        ) from err
    return item


def save_item(item: Mapping[str, np.ndarray], path: str | Path, array: str | None = None) -> None:
    """One video's result as its own file: the single ``array`` as .npy, or every array as
    .npz (the layout ``pipeline.motion_tokens.save_tokens`` writes)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        if array is not None:
            np.save(f, item[array])
        else:
            np.savez(f, **item)
