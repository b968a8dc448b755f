"""Shards: HDF5 files holding everything training reads of a split, nothing else.

Per video, under ``/videos/{cls}/{vid}``: ``audio`` (int16 at the dataset's rate), ``frames``
(each frame cropped to its chosen box and resized so its shorter side is ``crop_side``, as JPEG
bytes) with ``frames_crc32`` (each frame's CRC-32), ``boxes`` (the chosen box per frame),
``detections`` (all rows), and where motion was extracted ``motion`` (float16 tokens, T' x C)
with ``motion_spans`` (seconds).

Every item is checked when read (``iquery/model/shard_dataset.py``, and ``verify_shard`` for a whole
file): each array carries a CRC-32 of its bytes (``crc32`` attribute; the audio one CRC per
block of ``AUDIO_BLOCK`` samples, in ``audio_crc32``, so a clip's window checks only the blocks
it reads), and each JPEG frame its CRC-32 in ``frames_crc32``. HDF5's own Fletcher-32 filter is
on as well, but alone it misses a run of inverted bytes that covers a small chunk and its sum.

A split's videos are dealt to shards of ``videos_per_shard``
(``iquery.pipeline.core.layout.deal_to_shards``); every shard is its own job and file, and the
split's index (``{split}.json``) names each shard's videos.
"""

from __future__ import annotations

import io
import json
import os
import zlib
from collections.abc import Iterable
from pathlib import Path

import h5py
import numpy as np
from PIL import Image

from iquery.pipeline.core.errors import ShardError
from iquery.pipeline.core.files import atomic_path
from iquery.pipeline.core.records import missing_file_message
from iquery.pipeline.detection.rows import load_rows, select_boxes
from iquery.pipeline.media.ffmpeg import read_wav
from iquery.pipeline.motion.tokens import load_tokens

FORMAT_VERSION = 3  # 2: checksums on every item; 3: keys spelled as in config.yaml
AUDIO_BLOCK = 1 << 16  # audio samples per CRC-32


def crc32(data: np.ndarray | bytes) -> int:
    raw = data if isinstance(data, bytes) else np.ascontiguousarray(data).tobytes()
    return zlib.crc32(raw)


def block_crc32(samples: np.ndarray, block: int = AUDIO_BLOCK) -> np.ndarray:
    """The CRC-32 of each ``block`` of samples (the last block may be shorter)."""
    return np.array(
        [crc32(samples[i : i + block]) for i in range(0, len(samples), block)], dtype=np.uint32
    )


def repair_command(shard: str | Path) -> str:
    """What rebuilds one shard alone, run where the workflow ran (with the same config files)."""
    return f"snakemake --cores 1 --force {shard}"


def crop_frame(image: Image.Image, box: np.ndarray, side: int, quality: int = 90) -> bytes:
    """Crop to ``box`` and resize so the shorter side is ``side``; JPEG bytes."""
    x1, y1, x2, y2 = (int(round(v)) for v in box)
    crop = image.crop((x1, y1, max(x2, x1 + 1), max(y2, y1 + 1)))
    w, h = crop.size
    scale = side / min(w, h)
    crop = crop.resize((max(side, round(w * scale)), max(side, round(h * scale))), Image.BICUBIC)
    buffer = io.BytesIO()
    crop.convert("RGB").save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def any_frames(path: str | Path, stage: str) -> bool:
    """False for a frame folder without frames (other stages' files: True)."""
    return stage != "frames" or any(Path(path).glob("*.jpg"))


def video_payload(
    *,
    audio: str | Path,
    frames: str | Path,
    detections: str | Path,
    motion: str | Path | None,
    class_index: int,
    n_classes: int,
    own_class_boxes: bool,
    crop_side: int,
) -> dict:
    """Read one video's audio, frames, detections and motion; check they agree."""
    stages = {"audio": audio, "frames": frames, "detect": detections, "motion": motion}
    for stage, path in stages.items():
        if path is not None and not (Path(path).exists() and any_frames(path, stage)):
            raise ShardError(missing_file_message(path, stage))
    samples, rate = read_wav(audio)
    jpgs = sorted(Path(frames).glob("*.jpg"))
    width, height = Image.open(jpgs[0]).size
    rows = load_rows(
        detections, n_frames=len(jpgs), width=width, height=height, n_classes=n_classes
    )
    boxes = select_boxes(
        rows,
        len(jpgs),
        width=width,
        height=height,
        own_class=class_index if own_class_boxes else None,
    )
    crops = [crop_frame(Image.open(p), box, crop_side) for p, box in zip(jpgs, boxes, strict=True)]
    payload = {
        "audio": samples,
        "audio_rate": rate,
        "crops": crops,
        "boxes": boxes,
        "rows": rows,
        "size": (width, height),
        "class_index": class_index,
    }
    if motion is not None:
        tokens = load_tokens(motion)
        payload["motion"] = tokens.tokens.astype(np.float16)
        payload["motion_spans"] = tokens.spans.astype(np.float32)
        payload["motion_extractor"] = tokens.extractor
        payload["motion_weights"] = tokens.weights_sha256
    return payload


def write_shard(
    path: str | Path, payloads: Iterable[tuple[tuple[str, str], dict]], attrs: dict
) -> None:
    """Write one shard from ((class, vid), payload) pairs; ``attrs`` describe the whole shard."""
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as h5:
            h5.attrs.update(attrs | {"format_version": FORMAT_VERSION})
            group = h5.create_group("videos")
            for (cls, vid), p in payloads:
                g = group.create_group(f"{cls}/{vid}")
                g.create_dataset("audio", data=p["audio"], fletcher32=True)
                _checked(g, "audio_crc32", block_crc32(p["audio"]))
                jpeg = h5py.vlen_dtype(np.uint8)
                frames = g.create_dataset("frames", (len(p["crops"]),), dtype=jpeg)
                for i, data in enumerate(p["crops"]):
                    frames[i] = np.frombuffer(data, dtype=np.uint8)
                crc = np.array([crc32(data) for data in p["crops"]], dtype=np.uint32)
                _checked(g, "frames_crc32", crc)
                _checked(g, "boxes", p["boxes"])
                _checked(g, "detections", p["rows"])
                if "motion" in p:
                    _checked(g, "motion", p["motion"])
                    _checked(g, "motion_spans", p["motion_spans"])
                    g.attrs["motion_extractor"] = p["motion_extractor"]
                    g.attrs["motion_weights_sha256"] = p["motion_weights"]
                g.attrs.update(
                    {
                        "class": cls,
                        "vid": vid,
                        "class_index": p["class_index"],
                        "audio_rate": p["audio_rate"],
                        "frame_width": p["size"][0],
                        "frame_height": p["size"][1],
                    }
                )


def _checked(group: h5py.Group, name: str, data: np.ndarray) -> None:
    """An array with the CRC-32 of its bytes beside it (and HDF5's Fletcher-32 sums)."""
    group.create_dataset(name, data=data, fletcher32=True).attrs["crc32"] = crc32(data)


def _sum_mismatches(values: dict) -> list[str]:
    """The items among a video's audio and frames whose stored CRC-32 lists do not match."""
    computed = {
        "audio": lambda: block_crc32(values["audio"]).tolist(),
        "frames": lambda: [crc32(frame) for frame in values["frames"]],
    }
    return [
        name
        for name, compute in computed.items()
        if name in values
        and f"{name}_crc32" in values
        and compute() != values[f"{name}_crc32"].tolist()
    ]


def verify_shard(path: str | Path) -> list[str]:
    """Every item of a shard read and checked; the problems found, each naming its item."""
    problems = []
    with h5py.File(path, "r") as h5:
        for cls in h5["videos"]:
            for vid, g in h5["videos"][cls].items():
                values = {}
                for name, data in g.items():
                    try:
                        values[name] = data[()]
                    except OSError as err:
                        problems.append(f"{path}: {cls}/{vid}/{name}: unreadable ({err})")
                        continue
                    if "crc32" in data.attrs and crc32(values[name]) != int(data.attrs["crc32"]):
                        problems.append(f"{path}: {cls}/{vid}/{name}: CRC-32 does not match")
                problems += [
                    f"{path}: {cls}/{vid}/{name}: CRC-32 does not match"
                    for name in _sum_mismatches(values)
                ]
    return problems


def split_index(shards: list[str | Path], split: str, index_path: str | Path) -> dict:
    """The index of a split: each shard's file (relative to the index) and videos, in order,
    and the settings the shards were made with (all shards of a split must agree)."""
    entries, settings = [], {}
    for path in shards:
        path = Path(path)
        try:
            with h5py.File(path, "r") as h5:
                held = sorted((cls, vid) for cls in h5["videos"] for vid in h5["videos"][cls])
                order = json.loads(h5.attrs["videos"])
                settings[path] = (str(h5.attrs["config_hash"]), json.loads(h5.attrs["recipe"]))
        except (OSError, KeyError) as err:
            raise ShardError(
                f"{path}: unreadable shard ({err}); delete it and rerun to rebuild it"
            ) from err
        if sorted(map(tuple, order)) != held:
            raise ShardError(f"{path}: holds other videos than it lists; delete it and rerun")
        relative = os.path.relpath(path, Path(index_path).parent)
        entries.append({"file": relative, "videos": order})
    made_with = {h: s for h, s in settings.values()}
    if len(made_with) > 1:
        raise ShardError(f"{split} shards were made with different settings; rerun the shards")
    config_hash, made = next(iter(made_with.items()), ("", {}))
    return {"split": split, "shards": entries, "config_hash": config_hash, "recipe": made}
