"""Motion tokens: I3D features of a video's frames, max-pooled over space, each with its time span.

Paper setting (iQuery's ``scripts/extract_motion.py``): the first 160 frames of the 1-fps frame
folder (at most 160 s), at full resolution, RGB in [0, 1] without mean/std normalisation, through
FAME's I3D with BatchNorm on each video's own statistics; the Mixed_5c map (1024, T', H', W') is
max-pooled over space to 1024-d tokens. These tokens are video-level, not aligned to the training
clip, which is why every token here carries its time span.

Time convention. Frame i (0-based; file ``000001.jpg`` is i = 0) at ``fps`` stands for the
interval [i/fps, (i+1)/fps) (the frame stage samples it at about (i + 0.5)/fps, the middle).
Token j of a backbone with temporal stride s covers input frames [j*s, (j+1)*s) clipped to the T
frames given, so its span is [j*s/fps, min((j+1)*s, T)/fps) seconds (plus the window start in
clip mode). This is the stride grid: each token's receptive field is wider (about 100 frames at
Inception's Mixed_5c), and FAME's padding gives floor(T/2) frames after the first conv, so for
odd T the last frame may belong to no token.

Clip mode (``extract_clips``) runs the backbone on fixed windows of a higher-rate frame folder
(e.g. 16 frames at 8 fps = 2 s), so tokens can be aligned with training clips.
"""

from __future__ import annotations

import os
import re
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from iquery.pipeline.motion.i3d import build_backbone
from iquery.pipeline.motion.tokens import MotionTokens, token_spans

_FRAME_NAME = re.compile(r"^(\d+)\.(jpe?g|png)$", re.IGNORECASE)

VideoSource = str | os.PathLike | np.ndarray


# --------------------------------------------------------------------------------------------
# Frames


def _resize_short(frame: np.ndarray, short: int) -> np.ndarray:
    h, w = frame.shape[:2]
    scale = short / min(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    if size == (w, h):
        return frame
    # PIL's bilinear filter widens its support when shrinking, so it does not alias.
    return np.asarray(Image.fromarray(frame).resize(size, Image.Resampling.BILINEAR))


def _frame_files(folder: Path) -> tuple[list[Path], list[int]]:
    if not folder.is_dir():
        raise FileNotFoundError(f"frames folder {folder} does not exist")
    numbered = []
    for p in folder.iterdir():
        m = _FRAME_NAME.match(p.name)
        if m and p.is_file():
            numbered.append((int(m.group(1)), p))
    if not numbered:
        raise ValueError(f"frames folder {folder} holds no frames (000001.jpg, ...)")
    numbered.sort()
    return [p for _, p in numbered], [n for n, _ in numbered]


def load_frames(
    source: VideoSource, *, max_frames: int | None = None, resize_short: int | None = None
) -> np.ndarray:
    """Frames as a (T, H, W, 3) uint8 array: the first ``max_frames`` of a folder of numbered
    JPEGs (000001.jpg, ... as the frame stage writes them) or of a given array, the shorter side
    optionally resized to ``resize_short``.

    The numbers must run 1, 2, ... without gaps, because a frame's number is its time.
    """
    if max_frames is not None and max_frames < 1:
        raise ValueError(f"max_frames must be >= 1, got {max_frames}")
    if resize_short is not None and resize_short < 1:
        raise ValueError(f"resize_short must be >= 1, got {resize_short}")
    if isinstance(source, np.ndarray):
        if source.ndim != 4 or source.shape[-1] != 3 or source.dtype != np.uint8:
            raise ValueError(
                f"frames array must be (T, H, W, 3) uint8, got {source.shape} {source.dtype}"
            )
        if source.shape[0] == 0:
            raise ValueError("frames array holds zero frames")
        frames = source[:max_frames]
        if resize_short is not None:
            frames = np.stack([_resize_short(f, resize_short) for f in frames])
        return np.ascontiguousarray(frames)

    folder = Path(source)
    files, numbers = _frame_files(folder)
    files, numbers = files[:max_frames], numbers[:max_frames]
    if numbers != list(range(1, len(numbers) + 1)):
        gap = next(i for i, n in enumerate(numbers, 1) if n != i)
        raise ValueError(
            f"frames folder {folder}: numbering is not 1, 2, ... (expected frame {gap}, "
            f"found {files[gap - 1].name})"
        )
    frames = []
    for p in files:
        try:
            with Image.open(p) as im:
                frame = np.asarray(im.convert("RGB"))
        except OSError as err:
            raise ValueError(f"frames folder {folder}: cannot read {p.name}: {err}") from err
        if resize_short is not None:
            frame = _resize_short(frame, resize_short)
        if frames and frame.shape != frames[0].shape:
            raise ValueError(
                f"frames folder {folder}: {p.name} is {frame.shape[1]}x{frame.shape[0]}, "
                f"the first frame {frames[0].shape[1]}x{frames[0].shape[0]}"
            )
        frames.append(frame)
    return np.stack(frames)


# --------------------------------------------------------------------------------------------
# Time spans


def clip_windows(
    num_frames: int, clip_frames: int, hop: int | None = None
) -> list[tuple[int, int]]:
    """Frame windows [start, end) of ``clip_frames`` frames every ``hop`` (default: no overlap).

    When the frames do not fill a last window, one more window ending at the last frame is
    added (overlapping its neighbour), so every frame is covered and all windows share a shape
    (which lets them run as one batch). Fewer frames than one window give one shorter window.
    """
    if clip_frames < 1:
        raise ValueError(f"clip_frames must be >= 1, got {clip_frames}")
    hop = clip_frames if hop is None else hop
    if hop < 1:
        raise ValueError(f"hop must be >= 1, got {hop}")
    if num_frames <= clip_frames:
        return [(0, num_frames)]
    starts = list(range(0, num_frames - clip_frames + 1, hop))
    if starts[-1] + clip_frames < num_frames:
        starts.append(num_frames - clip_frames)
    return [(s, s + clip_frames) for s in starts]


# --------------------------------------------------------------------------------------------
# Extraction


class MotionExtractor:
    """A backbone held on ``device`` that turns frames into ``MotionTokens``.

    backbone/weights/variant/input_norm/norm_stats/strict go to ``build_backbone``; the defaults
    (inception, FAME variant, no input scaling, per-video BN) are the paper's. ``resize_short``
    resizes each frame's shorter side (None = full resolution, as the paper). ``batch_size``
    videos or windows of equal shape run together; per-video BN stays per video in a batch.
    """

    def __init__(
        self,
        backbone: str = "inception",
        weights: str | os.PathLike | None = None,
        *,
        device: str | torch.device | None = None,
        resize_short: int | None = None,
        dtype: str = "float32",
        batch_size: int = 4,
        strict: bool = True,
        variant: str | None = None,
        input_norm: str | None = None,
        norm_stats: str | None = None,
    ) -> None:
        if dtype not in ("float16", "float32"):
            raise ValueError(f"dtype must be 'float16' or 'float32', got {dtype!r}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.model = build_backbone(
            backbone,
            weights,
            variant=variant,
            input_norm=input_norm,
            norm_stats=norm_stats,
            strict=strict,
        ).to(self.device)
        self.resize_short = resize_short
        self.dtype = np.dtype(dtype)
        self.batch_size = batch_size

    @property
    def extractor(self) -> str:
        m = self.model
        short = self.resize_short or "full"
        return f"{m.extractor} input={m.input_norm} bn={m.norm_stats} short={short}"

    def _tokens(self, batch: np.ndarray) -> np.ndarray:
        """(B, T, H, W, 3) uint8 -> (B, T', C) tokens."""
        if batch.shape[1] < self.model.min_frames:
            raise ValueError(
                f"{self.model.extractor} needs at least {self.model.min_frames} frames, "
                f"got {batch.shape[1]}"
            )
        with torch.inference_mode():
            # Move uint8 (4x fewer bytes) and scale on the device; /255 as ToTensor does.
            x = torch.from_numpy(batch).to(self.device)
            x = x.permute(0, 4, 1, 2, 3).float().div_(255.0).contiguous()
            feats = self.model(x)
            tokens = feats.amax(dim=(3, 4)).transpose(1, 2)
            return tokens.float().cpu().numpy().astype(self.dtype, copy=False)

    def _result(self, tokens, spans, clip_index, windows, fps, frames) -> MotionTokens:
        return MotionTokens(
            tokens=tokens,
            spans=spans,
            clip_index=clip_index.astype(np.int32),
            windows=np.asarray(windows, dtype=np.float32).reshape(-1, 2),
            extractor=self.extractor,
            weights_sha256=self.model.weights_sha256,
            frame_rate=float(fps),
            num_frames=int(frames.shape[0]),
            frame_size=(int(frames.shape[1]), int(frames.shape[2])),
        )

    def extract(self, video: VideoSource, fps: float, max_frames: int | None) -> MotionTokens:
        """Whole-video tokens of one frames folder or array at ``fps``, of its first
        ``max_frames`` frames (config block motion: the paper's 1 fps and 160 frames)."""
        return self.extract_many([video], fps, max_frames)[0]

    def extract_many(
        self,
        videos: Sequence[VideoSource],
        fps: float,
        max_frames: int | None,
    ) -> list[MotionTokens]:
        """Whole-video tokens of several videos; those of equal frame shape run as one batch."""
        if fps <= 0:
            raise ValueError(f"fps must be > 0, got {fps}")
        frames = [
            load_frames(v, max_frames=max_frames, resize_short=self.resize_short) for v in videos
        ]
        groups: dict[tuple[int, ...], list[int]] = defaultdict(list)
        for i, f in enumerate(frames):
            groups[f.shape].append(i)
        out: list[MotionTokens | None] = [None] * len(frames)
        stride = self.model.temporal_stride
        for idx in groups.values():
            for k in range(0, len(idx), self.batch_size):
                chunk = idx[k : k + self.batch_size]
                feats = self._tokens(np.stack([frames[i] for i in chunk]))
                for i, tok in zip(chunk, feats, strict=True):
                    n = frames[i].shape[0]
                    out[i] = self._result(
                        tok,
                        token_spans(len(tok), n, stride, fps),
                        np.zeros(len(tok)),
                        [(0.0, n / fps)],
                        fps,
                        frames[i],
                    )
        return out  # type: ignore[return-value]

    def extract_clips(
        self,
        video: VideoSource,
        fps: float,
        clip_frames: int = 16,
        hop: int | None = None,
        max_frames: int | None = None,
    ) -> MotionTokens:
        """Tokens of fixed windows (``clip_windows``) of a higher-rate frame folder or array.

        Each window runs on its own (its tokens see only its frames); the tokens of all windows
        are concatenated in window order, with ``clip_index`` and absolute ``spans``.
        """
        if fps <= 0:
            raise ValueError(f"fps must be > 0, got {fps}")
        frames = load_frames(video, max_frames=max_frames, resize_short=self.resize_short)
        wins = clip_windows(frames.shape[0], clip_frames, hop)
        stride = self.model.temporal_stride
        tokens, spans, clip_index = [], [], []
        for k in range(0, len(wins), self.batch_size):
            chunk = wins[k : k + self.batch_size]
            feats = self._tokens(np.stack([frames[s:e] for s, e in chunk]))
            for w, ((s, e), tok) in enumerate(zip(chunk, feats, strict=True), start=k):
                tokens.append(tok)
                spans.append(token_spans(len(tok), e - s, stride, fps, start_frame=s))
                clip_index.append(np.full(len(tok), w))
        return self._result(
            np.concatenate(tokens),
            np.concatenate(spans),
            np.concatenate(clip_index),
            [(s / fps, e / fps) for s, e in wins],
            fps,
            frames,
        )
