"""Import detection files that already exist in the original layout.

The CoSep (MUSIC) and Detic (MUSIC-21, AVE) outputs that circulate with the shared MUSIC copies
are ``detection_results/{cls}/{vid}.mp4.npy`` arrays of (K, 7) rows. Their class ids follow other
conventions: CoSep's are its own 15 Open Images classes (so they are read as class-agnostic, which
is how the paper uses them on MUSIC), the MUSIC-21 Detic files count from 1, the AVE ones from 0.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from iquery.pipeline.core.errors import DetectionError
from iquery.pipeline.detection.rows import AGNOSTIC, check_rows


def import_rows(
    path: str | Path,
    *,
    class_offset: int | None,
    n_classes: int,
    n_frames: int,
    width: int,
    height: int,
) -> np.ndarray:
    """Read one circulating file and return checked rows in this project's convention.

    ``class_offset=None`` marks every box class-agnostic; otherwise the file's class id minus
    the offset is the dataset's class index, and ids outside the classes (a "person" class, say)
    become class-agnostic.
    """
    path = Path(path)
    try:
        raw = np.load(path, allow_pickle=False)
    except FileNotFoundError as err:
        raise DetectionError(
            f"{path}: no precomputed detection file; put the circulating files, in the "
            "original layout (detection_results/), in the folder the dataset's config key "
            "'copy' names, or use another backend"
        ) from err
    except (ValueError, OSError, EOFError) as err:
        raise DetectionError(f"{path}: not a readable .npy file ({err})") from err
    raw = np.asarray(raw, dtype=np.float32)
    if raw.ndim == 2 and raw.shape[1] == 7 and raw.any():
        raw = raw.copy()
        if class_offset is None:
            raw[:, 1] = AGNOSTIC
        else:
            ids = raw[:, 1] - class_offset
            raw[:, 1] = np.where((ids >= 0) & (ids < n_classes), ids, AGNOSTIC)
    return check_rows(raw, path, n_frames=n_frames, width=width, height=height, n_classes=n_classes)
