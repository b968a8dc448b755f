"""Motion-token files: the I3D tokens of one video, each with its time span, as ``.npz``.

What ``iquery/pipeline/motion/extractor.py`` extracts, the motion stage stores (in chunk files, then
one file per video in ``motion_features/{cls}/{vid}.mp4.npz``) and the shards read. Plain arrays
only: the files load without pickle.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from iquery.pipeline.core.files import atomic_path

FIELDS = (
    "tokens",
    "spans",
    "clip_index",
    "windows",
    "extractor",
    "weights_sha256",
    "frame_rate",
    "num_frames",
    "frame_size",
)


@dataclass
class MotionTokens:
    """Tokens of one video and where they sit in time.

    tokens (N, C) float16/32; spans (N, 2) float32 seconds [start, end); clip_index (N,) int32,
    the window each token comes from (all 0 for whole-video tokens); windows (K, 2) float32
    seconds, the frames each window covered; extractor: backbone and settings; weights_sha256:
    sha256 of the weights file or 'random'; frame_rate and num_frames of the frames used; frame_size
    (H, W) fed to the network.
    """

    tokens: np.ndarray
    spans: np.ndarray
    clip_index: np.ndarray
    windows: np.ndarray
    extractor: str
    weights_sha256: str
    frame_rate: float
    num_frames: int
    frame_size: tuple[int, int]


# Channels of each backbone's tokens (iquery/pipeline/motion/i3d.py builds them).
BACKBONE_CHANNELS = {"inception": 1024, "r50": 2048, "small": 256}
# Frames per token: the backbones' temporal stride.
TEMPORAL_STRIDE = 8


def token_spans(
    num_tokens: int, num_frames: int, stride: int, fps: float, start_frame: int = 0
) -> np.ndarray:
    """(num_tokens, 2) float32 seconds: token j covers frames [j*stride, (j+1)*stride) clipped
    to ``num_frames``, shifted by ``start_frame``; frame i covers [i/fps, (i+1)/fps)."""
    j = np.arange(num_tokens, dtype=np.float64)
    lo = np.minimum(j * stride, num_frames)
    hi = np.minimum((j + 1) * stride, num_frames)
    return ((np.stack([lo, hi], axis=1) + start_frame) / fps).astype(np.float32).reshape(-1, 2)


def tokens_to_arrays(mt: MotionTokens) -> dict[str, np.ndarray]:
    """``mt`` as plain arrays (no pickled objects), for .npz and chunk files."""
    return {
        "tokens": mt.tokens,
        "spans": mt.spans,
        "clip_index": mt.clip_index,
        "windows": mt.windows,
        "extractor": np.array(mt.extractor),
        "weights_sha256": np.array(mt.weights_sha256),
        "frame_rate": np.array(mt.frame_rate, dtype=np.float64),
        "num_frames": np.array(mt.num_frames, dtype=np.int64),
        "frame_size": np.array(mt.frame_size, dtype=np.int64),
    }


def tokens_from_arrays(d: dict[str, np.ndarray], source: str | os.PathLike) -> MotionTokens:
    """The inverse of ``tokens_to_arrays``; ``source`` names the file in errors."""
    missing = [k for k in FIELDS if k not in d]
    if missing:
        raise ValueError(f"{source}: not a motion-token file, lacks {missing}")
    return MotionTokens(
        tokens=d["tokens"],
        spans=d["spans"],
        clip_index=d["clip_index"],
        windows=d["windows"],
        extractor=str(d["extractor"]),
        weights_sha256=str(d["weights_sha256"]),
        frame_rate=float(d["frame_rate"]),
        num_frames=int(d["num_frames"]),
        frame_size=(int(d["frame_size"][0]), int(d["frame_size"][1])),
    )


def save_tokens(path: str | os.PathLike, mt: MotionTokens) -> None:
    """Write ``mt`` to an .npz, atomically."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **tokens_to_arrays(mt))


def load_tokens(path: str | os.PathLike) -> MotionTokens:
    """Read an .npz written by ``save_tokens``; errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"motion-token file {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, EOFError, ValueError, zipfile.BadZipFile) as err:
        raise ValueError(f"{path}: cannot be read as a motion-token file ({err})") from err
    return tokens_from_arrays(arrays, path)
