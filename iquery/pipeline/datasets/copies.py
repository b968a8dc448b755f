"""Starting from a copy: media and features someone already made, in the original layout.

Many MUSIC videos are gone from YouTube, so researchers pass around what was made from them;
AVE comes as one archive of clips. A dataset's ``copy`` folder may hold any of::

    audio/{cls}/{vid}.wav                  sound at the dataset's rate
    frames/{cls}/{vid}.mp4/000001.jpg ...  frames at the dataset's frame rate
    detection_results/{cls}/{vid}.mp4.npy  (K, 7) boxes (CoSep's, Detic's)
    motion_features/{cls}/{vid}.mp4.npy    I3D Mixed_5c features (C, T', h, w), the published format
    {vid}.mp4 or {cls}/{vid}.mp4           the videos themselves (AVE's archive: AVE/{vid}.mp4)

Each stage takes what the copy holds for a video instead of making it, after checking it (rate,
length, frame numbering, row shape, feature size); what fails a check is a ``MediaError`` that
leaves the video out with the reason. Copied media are linked, not duplicated.
"""

from __future__ import annotations

import math
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from iquery.pipeline.core.errors import ConfigError, DetectionError, MediaError
from iquery.pipeline.core.layout import PUBLISHED_MOTION, VIDEO_FILES, video_file
from iquery.pipeline.media.ffmpeg import decode_audio, probe, read_wav, write_wav
from iquery.pipeline.motion.tokens import (
    TEMPORAL_STRIDE,
    MotionTokens,
    load_tokens,
    token_spans,
)

_FRAME_NAME = re.compile(r"^(\d{6})\.jpg$")


@dataclass(frozen=True)
class Copy:
    """A folder in the original layout (see the module's docstring); any part may be absent."""

    root: Path

    def clip(self, cls: str, vid: str) -> Path | None:
        """The video itself, flat (AVE's archive) or in a class folder, if the copy has it."""
        for path in (self.root / f"{vid}.mp4", self.root / cls / f"{vid}.mp4"):
            if path.is_file():
                return path
        return None

    def audio(self, cls: str, vid: str) -> Path | None:
        path = Path(video_file(self.root, "audio", cls, vid))
        return path if path.is_file() else None

    def frames(self, cls: str, vid: str) -> Path | None:
        path = Path(video_file(self.root, "frames", cls, vid))
        return path if path.is_dir() else None

    def detections(self, cls: str, vid: str) -> Path | None:
        path = Path(video_file(self.root, "detect", cls, vid))
        return path if path.is_file() else None

    def motion(self, cls: str, vid: str) -> Path | None:
        """Published features (.npy), or this pipeline's own tokens (.npz)."""
        for suffix in MOTION_SUFFIXES:
            path = Path(video_file(self.root, "motion", cls, vid, suffix))
            if path.is_file():
                return path
        return None


LAYOUT_FOLDERS = tuple(folder for folder, _ in VIDEO_FILES.values())
MOTION_SUFFIXES = (PUBLISHED_MOTION, VIDEO_FILES["motion"][1])


def open_copy(folder: str | Path | None, key: str) -> Copy | None:
    """The copy a config key names (None for none); a folder that does not exist is an error,
    and so is one that holds none of the layout's folders while a folder one or two levels down
    does (a copy unpacked into a wrapper folder): its path is named."""
    if not folder:
        return None
    path = Path(folder).expanduser()
    if not path.is_dir():
        raise ConfigError(
            f"config key {key}: folder {folder!r} not found; give a folder in the original "
            f"layout ({', '.join(f'{name}/' for name in LAYOUT_FOLDERS)}) or of the videos, "
            "or null"
        )
    path = path.resolve()
    if not any((path / name).is_dir() for name in LAYOUT_FOLDERS):
        deeper = _layout_below(path)
        if deeper is not None:
            raise ConfigError(
                f"config key {key}: {path} holds none of {', '.join(LAYOUT_FOLDERS)}, but "
                f"{deeper} does: point the key at {deeper}"
            )
    return Copy(path)


def _layout_below(root: Path, depth: int = 2) -> Path | None:
    """The first folder one or two levels below ``root`` that holds a layout folder."""
    level = [root]
    for _ in range(depth):
        level = sorted(p for parent in level for p in parent.iterdir() if p.is_dir())
        for folder in level:
            if any((folder / name).is_dir() for name in LAYOUT_FOLDERS):
                return folder
    return None


def unmatched_files(copy: Copy, videos: list[tuple[str, str]]) -> list[str]:
    """Files and folders of the copy's layout that belong to no video of the index (a
    misplaced class folder, another dataset's files, a typo in a name), relative to the copy."""
    wanted = set(videos)
    ids = {vid for _, vid in videos}
    found = []
    for stage, (folder, own) in VIDEO_FILES.items():
        suffixes = MOTION_SUFFIXES if stage == "motion" else (own,)
        for path in sorted((copy.root / folder).glob("*/*")):
            name = path.name
            suffix = next((s for s in suffixes if name.endswith(s)), None)
            vid = name[: -len(suffix)] if suffix else None
            if (path.parent.name, vid) not in wanted:
                found.append(str(path.relative_to(copy.root)))
    for path in sorted(copy.root.glob("*.mp4")) + sorted(copy.root.glob("*/*.mp4")):
        if path.parent.name in LAYOUT_FOLDERS:
            continue
        if path.stem not in ids:
            found.append(str(path.relative_to(copy.root)))
    return found


def link(source: Path, dest: str | Path) -> None:
    """Make ``dest`` a symbolic link to ``source`` (a file or a folder), replacing what is there;
    the link is made under a temporary name and renamed, so it is never half made."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.is_dir() and not dest.is_symlink():
        shutil.rmtree(dest)  # an earlier run's own frames; os.replace cannot replace a folder
    tmp = dest.with_name(f".{dest.name}.link.tmp")
    tmp.unlink(missing_ok=True)
    os.symlink(source.resolve(), tmp, target_is_directory=source.is_dir())
    os.replace(tmp, dest)


# --- audio ---------------------------------------------------------------------------------------


def use_audio(copied: Path, wav: str | Path, *, rate: int, min_seconds: float) -> dict:
    """Check a copied WAV and put it at ``wav``: linked when it is already mono 16-bit, else
    decoded to that (never resampled: a file at another rate is refused)."""
    meta = probe(copied)
    if not meta.has_audio:
        raise MediaError(f"copied {copied}: no audio stream")
    if meta.audio_rate != rate:
        raise MediaError(
            f"copied {copied} is at {meta.audio_rate} Hz, the dataset's rate is {rate} Hz: "
            f"resample it (ffmpeg -i IN -ar {rate} -ac 1 OUT.wav) or take it out of the copy"
        )
    try:
        samples, _ = read_wav(copied)
        linked = True
    except (ValueError, EOFError, OSError):
        samples, _ = decode_audio(copied, rate)
        linked = False
    seconds = samples.size / rate
    if seconds < min_seconds:
        raise MediaError(
            f"copied {copied}: too short, {seconds:.2f} s of audio, one training clip needs "
            f"{min_seconds:.2f} s"
        )
    if not samples.any():
        raise MediaError(f"copied {copied}: silent, the audio holds only zeros")
    if linked:
        link(copied, wav)
    else:
        write_wav(wav, samples, rate)
    return {
        "wav": str(wav),
        "audio_rate": rate,
        "samples": int(samples.size),
        "seconds": seconds,
        "source": "copied",
        "copied_from": str(copied),
        "converted": not linked,  # to mono 16-bit
    }


# --- frames --------------------------------------------------------------------------------------


def use_frames(copied: Path, frames: str | Path, *, fps: float, min_frames: int) -> dict:
    """Check a copied frame folder (000001.jpg ... numbered without gaps, enough of them, the
    first and last readable and of one size) and link it at ``frames``."""
    names = sorted(p.name for p in copied.iterdir() if p.is_file() and not p.name.startswith("."))
    numbers = [int(m.group(1)) for m in map(_FRAME_NAME.match, names) if m]
    if len(numbers) != len(names) or numbers != list(range(1, len(numbers) + 1)):
        odd = next((n for n in names if not _FRAME_NAME.match(n)), None)
        detail = f"found {odd!r}" if odd else "the numbers have gaps"
        raise MediaError(
            f"copied {copied}: frames must be 000001.jpg, 000002.jpg, ... without gaps; {detail}"
        )
    count = len(numbers)
    if count < min_frames:
        raise MediaError(
            f"copied {copied}: too short, {count} frames at {fps:g} fps, a training clip needs "
            f"{min_frames}"
        )
    for name in names:  # cheap for every frame: two reads at its ends, no decoding
        _check_jpeg(copied / name)
    sizes = {_image_size(copied / names[0]), _image_size(copied / names[-1])}
    if len(sizes) != 1:
        raise MediaError(f"copied {copied}: its first and last frames differ in size {sizes}")
    (width, height) = sizes.pop()
    link(copied, frames)
    return {
        "frames": str(frames),
        "count": count,
        "frame_rate": fps,
        "size": [width, height],
        "source": "copied",
        "copied_from": str(copied),
        "time_of_frame": "(k - 0.5) / frame_rate seconds, k = 1, 2, ...",
    }


def _check_jpeg(path: Path) -> None:
    """A JPEG starts with its SOI marker and ends with its EOI marker: an empty, truncated or
    other file does not (the stages that read the frames would fail on it later)."""
    size = path.stat().st_size
    if size < 4:
        raise MediaError(f"copied frame {path} is empty ({size} bytes)")
    with open(path, "rb") as handle:
        start = handle.read(2)
        handle.seek(-min(size, 32), os.SEEK_END)
        end = handle.read()  # some writers pad after the marker
    if start != b"\xff\xd8":
        raise MediaError(f"copied frame {path} is not a JPEG")
    if b"\xff\xd9" not in end:
        raise MediaError(f"copied frame {path} is truncated (no end-of-image marker)")


def _image_size(path: Path) -> tuple[int, int]:
    try:
        with Image.open(path) as image:
            image.load()
            return image.size
    except OSError as err:
        raise MediaError(f"copied frame {path} cannot be read ({err})") from err


def check_lengths(audio_seconds: float, frames: int, fps: float) -> str:
    """Why a video's audio and frames cannot be one video's (a copy of frames at another rate,
    say), or '' when they agree: within two frames and 5% of the length."""
    frame_seconds = frames / fps
    slack = max(2 / fps, 0.05 * max(audio_seconds, frame_seconds))
    if abs(frame_seconds - audio_seconds) <= slack:
        return ""
    return (
        f"{frames} frames are {frame_seconds:.1f} s at the dataset's {fps:g} fps, but the audio "
        f"lasts {audio_seconds:.1f} s: frames at another rate, or audio and frames of different "
        "videos?"
    )


# --- detections ----------------------------------------------------------------------------------


def check_detections(
    copied: Path,
    *,
    class_offset: int | None,
    n_classes: int,
    n_frames: int,
    width: int,
    height: int,
) -> int:
    """Check a copied detection file against the video's frames; the number of boxes."""
    from iquery.pipeline.detection.precomputed import import_rows

    try:
        rows = import_rows(
            copied,
            class_offset=class_offset,
            n_classes=n_classes,
            n_frames=n_frames,
            width=width,
            height=height,
        )
    except DetectionError as err:
        raise MediaError(f"copied {err}") from err
    return len(rows)


# --- motion features -----------------------------------------------------------------------------


def expected_tokens(n_frames: int, max_frames: int) -> int:
    """Tokens the backbones give for a video of ``n_frames`` frames (the first ``max_frames``)."""
    return math.ceil(min(n_frames, max_frames) / TEMPORAL_STRIDE)


def read_motion(
    copied: Path, *, n_frames: int, fps: float, max_frames: int, channels: int
) -> MotionTokens:
    """A copied motion file as tokens, checked against the video's frames: the published
    format (C, T', h, w) is max-pooled over space as the paper's loader does; this pipeline's
    own .npz is read as it is. Channels must be the configured backbone's, T' must fit the
    frames (one token either way: backbones pad differently)."""
    if copied.suffix == ".npz":
        try:
            tokens = load_tokens(copied)
        except (ValueError, FileNotFoundError) as err:
            raise MediaError(f"copied {err}") from err
        found = tokens.tokens
    else:
        try:
            features = np.load(copied, allow_pickle=False)
        except (ValueError, OSError, EOFError) as err:
            raise MediaError(f"copied {copied}: not a readable .npy file ({err})") from err
        if features.ndim == 5 and features.shape[0] == 1:
            features = features[0]
        if features.ndim != 4:
            raise MediaError(
                f"copied {copied}: expected I3D features of shape (C, T', h, w), got "
                f"{features.shape}"
            )
        found = features.max(axis=(2, 3)).T  # (T', C)
    if found.ndim != 2 or found.shape[1] != channels:
        raise MediaError(
            f"copied {copied}: features of {found.shape[-1]} channels, the configured "
            f"motion.backbone gives {channels}"
        )
    if not np.isfinite(found).all():
        raise MediaError(f"copied {copied}: holds NaN or infinite values")
    want = expected_tokens(n_frames, max_frames)
    if abs(found.shape[0] - want) > 1:
        raise MediaError(
            f"copied {copied}: {found.shape[0]} time steps, but {n_frames} frames (the first "
            f"{min(n_frames, max_frames)} used) give {want}: features of another video?"
        )
    if copied.suffix == ".npz":
        return tokens
    used = min(n_frames, max_frames)
    return MotionTokens(
        tokens=found.astype(np.float16),
        spans=token_spans(found.shape[0], used, TEMPORAL_STRIDE, fps),
        clip_index=np.zeros(found.shape[0], dtype=np.int32),
        windows=np.array([[0.0, used / fps]], dtype=np.float32),
        extractor=f"copied from {copied.name} (published I3D features)",
        weights_sha256="unknown",
        frame_rate=float(fps),
        num_frames=used,
        frame_size=(0, 0),
    )
