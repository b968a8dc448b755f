"""The training and test samples of iQuery, read from HDF5 shards.

Training (docs/method.md §1, §2): source 1 is video ``index % n``, source 2 a random video of
another class; each gets a random clip centre, its audio window (65535 samples for MUSIC) with a
random gain, ``num_frames`` frames around the centre, cropped to their chosen box (done when the
shards were written), randomly cropped to ``frame_size`` and flipped (one offset and flip per
clip), normalised later on the device (``normalize_frames``); and its motion tokens. Test:
the fixed pairs at the centre clip, no augmentation. Every random choice comes from a generator
seeded by (seed, epoch, index), so a sample does not depend on worker count or order. HDF5
files are opened lazily in each worker.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import torch
from PIL import Image

from iquery.pipeline.core.errors import ShardError
from iquery.pipeline.core.files import read_json
from iquery.pipeline.stages.shards import (
    AUDIO_BLOCK,
    FORMAT_VERSION,
    block_crc32,
    crc32,
    repair_command,
)

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


@dataclass(frozen=True)
class ClipSpec:
    """What one source of a sample holds; the values come from a run's settings."""

    clip_samples: int
    num_frames: int
    frame_stride: int
    frame_size: int
    # The motion tokens a source gives: "video", all of its video's (the paper's); "clip", those
    # whose span overlaps the clip's sound (the demo's learned encoder, whose tokens follow notes)
    motion_tokens: str = "video"
    gain: tuple[float, float] = (0.5, 1.5)  # random gain per training source (the paper's)

    @classmethod
    def from_settings(cls, settings) -> ClipSpec:
        """From a run's TrainSettings, or a checkpoint's data_spec (a dict; one saved before
        ``motion_tokens`` existed used the whole video's)."""
        keys = ("clip_samples", "num_frames", "frame_stride", "frame_size")
        plain = settings if isinstance(settings, dict) else settings.to_dict()
        return cls(**{k: plain[k] for k in keys}, motion_tokens=plain.get("motion_tokens", "video"))


def tokens_for_window(spans: np.ndarray, start: float, end: float) -> np.ndarray:
    """Indices of the tokens whose span (seconds, (N, 2)) overlaps [start, end); where none
    does (a window past the frames the network saw), the one whose centre is nearest."""
    spans = np.asarray(spans, dtype=np.float64).reshape(-1, 2)
    inside = np.flatnonzero((spans[:, 0] < end) & (spans[:, 1] > start))
    if len(inside):
        return inside
    centres = spans.mean(axis=1)
    return np.array([int(np.argmin(np.abs(centres - (start + end) / 2)))])


@dataclass(frozen=True)
class VideoRef:
    shard: Path
    cls: str
    vid: str
    class_index: int
    n_frames: int
    n_samples: int


def read_shard_index(index_path: str | Path) -> list[VideoRef]:
    """The videos of one split, from ``shards/{split}.json`` and the shards' own attributes."""
    index_path = Path(index_path)
    index = read_json(index_path, "rerun the shards stage")
    refs = []
    for entry in index["shards"]:
        path = index_path.parent / entry["file"]
        try:
            with h5py.File(path, "r") as h5:
                if h5.attrs.get("format_version") != FORMAT_VERSION:
                    raise ShardError(
                        f"{path}: made by another version of this code (format "
                        f"{h5.attrs.get('format_version')}, not {FORMAT_VERSION}); rebuild it "
                        f"with `{repair_command(path)}`"
                    )
                for cls, vid in entry["videos"]:
                    g = h5["videos"][cls][vid]
                    refs.append(
                        VideoRef(
                            path,
                            cls,
                            vid,
                            int(g.attrs["class_index"]),
                            len(g["frames"]),
                            len(g["audio"]),
                        )
                    )
        except (OSError, KeyError) as err:
            raise ShardError(
                f"{path}: truncated or incomplete shard ({err}); rebuild it with "
                f"`{repair_command(path)}` where the workflow ran (with the same --configfile)"
            ) from err
    return refs


def read_split_facts(index_path: str | Path) -> dict:
    """A split's videos and what training needs to know of them (class order, frame rate,
    audio rate, motion width, the shards' config hash), from its index and first shard."""
    index_path = Path(index_path)
    if not index_path.is_file():
        raise FileNotFoundError(f"{index_path}: no shard index; run the shards stage first")
    refs = read_shard_index(index_path)
    if not refs:
        raise ValueError(f"{index_path}: the split holds no videos")
    with h5py.File(refs[0].shard, "r") as h5:
        group = h5["videos"][refs[0].cls][refs[0].vid]
        return {
            "refs": refs,
            "classes": json.loads(h5.attrs["classes"]),
            "frame_rate": float(h5.attrs["frame_rate"]),
            "config_hash": str(h5.attrs.get("config_hash", "")),
            "motion_dim": int(group["motion"].shape[1]) if "motion" in group else None,
            # "random" where the I3D had no trained weights, else the weights file's sha256
            "motion_weights": (
                str(group.attrs.get("motion_weights_sha256", "?")) if "motion" in group else None
            ),
            "audio_rate": int(group.attrs["audio_rate"]),
            # how the videos were prepared (iquery.pipeline.stages.recipe), as the shards say
            "recipe": json.loads(h5.attrs.get("recipe", "{}")),
        }


def clip_frames(centre: int, n_frames: int, spec: ClipSpec) -> list[int]:
    """0-based indices of a clip's ``num_frames`` frames, ``frame_stride`` apart around the
    1-based frame ``centre``, clamped to the video."""
    first = centre - (spec.num_frames // 2) * spec.frame_stride
    return [
        min(max(first + t * spec.frame_stride, 1), n_frames) - 1 for t in range(spec.num_frames)
    ]


def pairs_within(pairs: list, classes: list[str]) -> list:
    """The ((cls, vid), (cls, vid)) pairs both of whose classes are among ``classes``."""
    return [p for p in pairs if p[0][0] in classes and p[1][0] in classes]


def for_classes(refs: list[VideoRef], classes: list[str]) -> list[VideoRef]:
    """The videos of ``classes`` only, each with its class's index in ``classes`` (a model's
    query order), whatever index the shards gave it."""
    order = {name: i for i, name in enumerate(classes)}
    return [dataclasses.replace(r, class_index=order[r.cls]) for r in refs if r.cls in order]


class ShardReader:
    """Open shards on first use, once per process (each DataLoader worker gets its own), and
    read a video's items only through their checksums (``iquery/pipeline/stages/shards.py``): the
    CRC-32 of each array, of each block of audio a window touches and of each JPEG frame, on top of
    HDF5's own Fletcher-32 sums. A corrupt item raises ShardError naming the shard, the video and
    the command that rebuilds the shard.

    A video's HDF5 objects, its small arrays (checksums, motion tokens) and its attributes are
    kept once looked up and verified: finding them again cost h5py more than reading a clip's
    samples and frames (a third of a demo training step)."""

    def __init__(self):
        self._files: dict[Path, h5py.File] = {}
        self._groups: dict[tuple, h5py.Group] = {}
        self._items: dict[tuple, object] = {}
        self._pid = os.getpid()

    def group(self, ref: VideoRef) -> h5py.Group:
        if self._pid != os.getpid():  # forked into a worker: the parent's handles are not ours
            self.__init__()
        key = (ref.shard, ref.cls, ref.vid)
        if key not in self._groups:
            if ref.shard not in self._files:
                self._files[ref.shard] = h5py.File(ref.shard, "r")
            self._groups[key] = self._files[ref.shard]["videos"][ref.cls][ref.vid]
        return self._groups[key]

    def _kept(self, ref: VideoRef, name: str, make):
        key = (ref.shard, ref.cls, ref.vid, name)
        if key not in self._items:
            self._items[key] = make()
        return self._items[key]

    def dataset(self, ref: VideoRef, name: str) -> h5py.Dataset:
        return self._kept(ref, f"dataset:{name}", lambda: self.group(ref)[name])

    def attribute(self, ref: VideoRef, name: str):
        return self._kept(ref, f"attr:{name}", lambda: self.group(ref).attrs[name])

    def has(self, ref: VideoRef, name: str) -> bool:
        return self._kept(ref, f"has:{name}", lambda: name in self.group(ref))

    def frames(self, ref: VideoRef, indices: list[int]) -> list[np.ndarray]:
        frames = self.dataset(ref, "frames")
        jpegs = self._read(ref, "frames", lambda: [frames[i] for i in indices])
        sums = self.array(ref, "frames_crc32")
        for i, data in zip(indices, jpegs, strict=True):
            if crc32(data) != int(sums[i]):
                raise ShardError(_corrupt(ref, f"frame {i + 1}", "its CRC-32 does not match"))
        return jpegs

    def audio(self, ref: VideoRef, lo: int, hi: int) -> np.ndarray:
        """Samples [lo, hi), read in whole checksummed blocks."""
        audio = self.dataset(ref, "audio")
        first, last = lo // AUDIO_BLOCK, -(-hi // AUDIO_BLOCK)
        start = first * AUDIO_BLOCK
        samples = self._read(ref, "audio", lambda: audio[start : last * AUDIO_BLOCK])
        sums = self.array(ref, "audio_crc32")[first:last]
        if block_crc32(samples).tolist() != sums.tolist():
            raise ShardError(_corrupt(ref, "audio", "a block's CRC-32 does not match"))
        return samples[lo - start : hi - start]

    def array(self, ref: VideoRef, name: str) -> np.ndarray:
        """A whole (small) array, checked against the CRC-32 stored beside it, then kept: the
        caller must not write to it."""

        def verified() -> np.ndarray:
            data = self.group(ref)[name]
            values = self._read(ref, name, lambda: data[()])
            if crc32(values) != int(data.attrs["crc32"]):
                raise ShardError(_corrupt(ref, name, "its CRC-32 does not match"))
            values.flags.writeable = False
            return values

        return self._kept(ref, f"array:{name}", verified)

    @staticmethod
    def _read(ref: VideoRef, what: str, read):
        try:
            return read()
        except OSError as err:  # HDF5 found a checksum (or the file's structure) wrong
            raise ShardError(_corrupt(ref, what, str(err))) from err

    def __getstate__(self):
        return {}

    def __setstate__(self, state):
        self.__init__()


def _corrupt(ref: VideoRef, what: str, why: str) -> str:
    return (
        f"{ref.shard}: the {what} of {ref.cls}/{ref.vid} is corrupt ({why}). Rebuild the shard "
        f"with `{repair_command(ref.shard)}` where the workflow ran (with the same --configfile), "
        "then run the workflow again"
    )


def _frames_tensor(jpegs: list[np.ndarray], spec: ClipSpec, rng: np.random.Generator | None):
    """Decode and crop a clip's frames: (3, T, S, S) uint8.

    Training: resize so the shorter side is S * 246/224, one random offset and flip for the
    whole clip (taken on its first frame); test: shorter side S, centre crop. Frames stay uint8
    here (a quarter of the bytes to pass between processes); ``normalize_frames`` finishes the
    job on the device.
    """
    size = spec.frame_size
    images = [Image.open(io.BytesIO(j.tobytes())) for j in jpegs]
    side = round(size * 246 / 224) if rng is not None else size
    flip = rng is not None and rng.random() < 0.5
    out = np.empty((len(images), size, size, 3), dtype=np.uint8)
    offset = None
    for t, image in enumerate(images):
        image = image.convert("RGB")
        w, h = image.size
        if min(w, h) != side:  # shards store crops at 246: no resize on the paper's path
            scale = side / min(w, h)
            image = image.resize(
                (max(side, round(w * scale)), max(side, round(h * scale))), Image.BILINEAR
            )
            w, h = image.size
        if offset is None:
            offset = (
                (int(rng.integers(0, w - size + 1)), int(rng.integers(0, h - size + 1)))
                if rng is not None
                else ((w - size) // 2, (h - size) // 2)
            )
        x, y = min(offset[0], w - size), min(offset[1], h - size)
        array = np.asarray(image.crop((x, y, x + size, y + size)))
        out[t] = array[:, ::-1] if flip else array
    return torch.from_numpy(out).permute(3, 0, 1, 2).contiguous()


def normalize_frames(frames: torch.Tensor) -> torch.Tensor:
    """uint8 frames (..., 3, T, H, W) → float, ImageNet mean/std; run it on the device."""
    mean = torch.as_tensor(IMAGENET_MEAN, device=frames.device).view(3, 1, 1, 1)
    std = torch.as_tensor(IMAGENET_STD, device=frames.device).view(3, 1, 1, 1)
    return (frames.float() / 255.0 - mean) / std


class MixDataset(torch.utils.data.Dataset):
    """Two-source mixtures from shards.

    ``pairs=None``: training, ``len = n_videos * dup`` samples per epoch with random partners.
    ``pairs=[((cls, vid), (cls, vid)), ...]``: evaluation, the given pairs at the centre clip.
    """

    def __init__(
        self,
        refs: list[VideoRef],
        *,
        spec: ClipSpec,
        frame_rate: float,
        seed: int | None = None,
        dup: int = 1,
        pairs: list[tuple[tuple[str, str], tuple[str, str]]] | None = None,
        use_motion: bool = True,
    ):
        if len({r.class_index for r in refs}) < 2:
            raise ValueError("mixing needs videos of at least two classes")
        if pairs is None and seed is None:
            raise ValueError("training samples need a seed")
        self.refs, self.spec, self.frame_rate, self.seed = refs, spec, frame_rate, seed
        self.dup, self.use_motion, self.epoch = dup, use_motion, 0
        by_key = {(r.cls, r.vid): r for r in refs}
        missing = [k for p in (pairs or []) for k in p if k not in by_key]
        if missing:
            raise ValueError(f"test pairs name videos absent from the shards: {missing[:3]}")
        self.pairs = [(by_key[a], by_key[b]) for a, b in pairs] if pairs is not None else None
        self.reader = ShardReader()

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.pairs) if self.pairs is not None else len(self.refs) * self.dup

    def _source(self, ref: VideoRef, rng: np.random.Generator | None) -> dict:
        spec, reader = self.spec, self.reader
        half = (spec.num_frames // 2) * spec.frame_stride
        margin = max(int(self.frame_rate), half)
        if rng is not None and ref.n_frames > 2 * margin:
            centre = int(rng.integers(margin + 1, ref.n_frames - margin + 1))
        else:
            centre = ref.n_frames // 2 + 1
        indices = clip_frames(centre, ref.n_frames, spec)
        frames = _frames_tensor(reader.frames(ref, indices), spec, rng)
        # Audio window centred on the frame's time, zero-padded at the file's edges.
        rate = int(reader.attribute(ref, "audio_rate"))
        start = round((centre - 0.5) / self.frame_rate * rate) - spec.clip_samples // 2
        audio = np.zeros(spec.clip_samples, dtype=np.float32)
        lo, hi = max(start, 0), min(start + spec.clip_samples, ref.n_samples)
        if hi > lo:
            window = reader.audio(ref, lo, hi)
            audio[lo - start : hi - start] = window.astype(np.float32) / 32768.0
        if rng is not None:
            audio = np.clip(audio * rng.uniform(*spec.gain), -1.0, 1.0)
        out = {"audio": torch.from_numpy(audio), "frames": frames, "class_index": ref.class_index}
        if self.use_motion:
            if not reader.has(ref, "motion"):
                raise ValueError(
                    f"{ref.shard}: {ref.cls}/{ref.vid} has no motion features; "
                    "build the shards with motion or set use_motion=False"
                )
            tokens = reader.array(ref, "motion").astype(np.float32)
            if spec.motion_tokens == "clip":
                spans = reader.array(ref, "motion_spans")
                end = start + spec.clip_samples
                tokens = tokens[tokens_for_window(spans, start / rate, end / rate)]
            out["motion"] = torch.from_numpy(tokens)
        return out

    def __getitem__(self, index: int) -> dict:
        if self.pairs is not None:
            sources = [self._source(ref, None) for ref in self.pairs[index]]
        else:
            rng = np.random.default_rng([self.seed, self.epoch, index])
            first = self.refs[index % len(self.refs)]
            others = [r for r in self.refs if r.class_index != first.class_index]
            second = others[int(rng.integers(len(others)))]
            sources = [self._source(first, rng), self._source(second, rng)]
        sample = {
            "audio": torch.stack([s["audio"] for s in sources]),
            "frames": torch.stack([s["frames"] for s in sources]),
            "class_index": torch.tensor([s["class_index"] for s in sources]),
        }
        if self.use_motion:
            sample["motion"] = [s["motion"] for s in sources]
        return sample


def collate(samples: list[dict]) -> dict:
    """Stack a batch; pad motion tokens to the longest with a boolean mask (True = padding)."""
    batch = {k: torch.stack([s[k] for s in samples]) for k in ("audio", "frames", "class_index")}
    if "motion" in samples[0]:
        tokens = [m for s in samples for m in s["motion"]]  # B*N sequences of (T', C)
        longest = max(t.shape[0] for t in tokens)
        channels = tokens[0].shape[1]
        motion = torch.zeros(len(tokens), longest, channels)
        mask = torch.ones(len(tokens), longest, dtype=torch.bool)
        for i, t in enumerate(tokens):
            motion[i, : t.shape[0]] = t
            mask[i, : t.shape[0]] = False
        n = len(samples[0]["motion"])
        batch["motion"] = motion.view(len(samples), n, longest, channels)
        batch["motion_padding"] = mask.view(len(samples), n, longest)
    return batch
