"""ffmpeg and ffprobe, through ffmpeg-python: probing, audio decoding and frame extraction.

Problems with a video's content raise ``MediaError`` with a reason fit for the manifest.
"""

from __future__ import annotations

import json
import subprocess
import wave
from dataclasses import dataclass
from pathlib import Path
from subprocess import DEVNULL

import ffmpeg
import numpy as np

from iquery.pipeline.core.errors import MediaError
from iquery.pipeline.core.faults import MachineError, is_crash, report_fault, signal_name
from iquery.pipeline.core.files import atomic_path

# Lines of ffmpeg's and ffprobe's version banner, printed before any error.
_BANNER = ("ffmpeg version", "ffprobe version", "  built with", "  configuration:", "  lib")
# A decode that yields less than this share of the expected audio means a truncated file.
MIN_DECODED_SHARE = 0.95


@dataclass(frozen=True)
class Probe:
    duration: float  # the longest of the container's and its streams' stated durations
    has_audio: bool
    has_video: bool
    width: int = 0
    height: int = 0
    fps: float = 0.0
    audio_rate: int = 0
    audio_channels: int = 0
    # Each stream's own length: phone footage often has a video stream longer than its audio,
    # and a stream is only truncated when it decodes short of its own stated length.
    audio_duration: float = 0.0
    video_duration: float = 0.0


def _stderr_tail(stderr: bytes | None, lines: int = 3) -> str:
    """The last lines ffmpeg wrote, without the version banner it prints before any error."""
    text = (stderr or b"").decode(errors="replace").strip().splitlines()
    text = [line for line in text if not line.startswith(_BANNER)]
    return " | ".join(text[-lines:]) or "no message"


def _run(stream, executable: str) -> bytes:
    """Run an ffmpeg-python stream (list arguments, no shell) and return its stdout; see
    ``run_tool``."""
    return run_tool(stream.compile(cmd=executable))


def run_tool(command: list[str]) -> bytes:
    """Run ffmpeg or ffprobe (a list of arguments, no shell) and return its stdout. A non-zero
    exit raises ffmpeg.Error with its stderr, as ffmpeg-python's own ``run`` does. Killed by a
    signal: one sent from outside (SIGKILL, SIGTERM: the out-of-memory killer, a scheduler) is
    the machine's fault; a crash (SIGSEGV, SIGABRT, ...) is tried once more, and a crash again
    is a fact about the file it was reading."""
    program = Path(command[0]).name
    for attempt in (1, 2):
        done = subprocess.run(command, capture_output=True, stdin=DEVNULL)
        if done.returncode >= 0:
            break
        number = -done.returncode
        if not is_crash(number):
            said = f"{program} killed by signal {number} ({signal_name(number)}) from outside"
            raise MachineError("killed", said)
        if attempt == 2:
            raise MediaError(
                f"{program} crashed on this file ({signal_name(number)}), and again when tried "
                f"once more{_said(done.stderr)}",
                checked=True,
            )
    if done.returncode:
        raise ffmpeg.Error(program, done.stdout, done.stderr)
    return done.stdout


def _said(stderr: bytes) -> str:
    tail = _stderr_tail(stderr, lines=2)
    return "" if tail == "no message" else f": {tail}"


def content_error(what: str, err: ffmpeg.Error, *inputs: str | Path) -> Exception:
    """What ffmpeg's report of a failure on ``inputs`` means: the machine's fault
    (``MachineError``; a full disk, an input the operating system cannot read) or a fact about
    the file (a checked ``MediaError``), decided by ``report_fault``."""
    report = _stderr_tail(err.stderr)
    fault = report_fault(report, inputs)
    if fault is not None:
        return MachineError(fault.kind, f"{what}: {report}")
    return MediaError(f"{what}: {report}", checked=True)


def missing_input(path: Path) -> None:
    """A video file that is not there: a fact about it, unless its folder is missing or empty,
    which is what an absent mount looks like (the machine's: nothing is recorded, and the rerun
    after mounting finds it)."""
    folder = path.parent
    if not folder.is_dir() or not any(folder.iterdir()):
        raise MachineError(
            "input not mounted",
            f"{path}: its folder {folder} is missing or empty; is its disk mounted?",
        )
    raise MediaError(f"file missing: {path}")


def _rate(text: str) -> float:
    num, _, den = (text or "0/1").partition("/")
    try:
        return float(num) / float(den or 1) if float(den or 1) else 0.0
    except ValueError:
        return 0.0


def probe(path: str | Path) -> Probe:
    """Read a video's streams and duration; MediaError if ffprobe cannot read the container."""
    path = Path(path)
    if not path.is_file():
        missing_input(path)
    if path.stat().st_size == 0:
        raise MediaError(f"empty file: {path}")
    try:
        shown = run_tool(
            ["ffprobe", "-show_format", "-show_streams", "-of", "json", "-v", "error", str(path)]
        )
        info = json.loads(shown.decode() or "{}")
    except ffmpeg.Error as err:
        raise content_error("cannot read container", err, path) from err
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise MediaError(f"cannot read container: ffprobe's report unreadable ({err})") from err
    streams = info.get("streams", [])
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    video = next(
        (
            s
            for s in streams
            if s.get("codec_type") == "video"
            and not s.get("disposition", {}).get("attached_pic")  # cover art is no video
        ),
        None,
    )
    container = float(info.get("format", {}).get("duration", 0) or 0)
    stream_durations = {
        kind: (float(s.get("duration", 0) or 0) or container) if s else 0.0
        for kind, s in (("audio", audio), ("video", video))
    }
    duration = max(container, *stream_durations.values())
    if duration <= 0:
        raise MediaError("unknown or zero duration")
    return Probe(
        duration=duration,
        has_audio=audio is not None,
        has_video=video is not None,
        width=int(video.get("width", 0)) if video else 0,
        height=int(video.get("height", 0)) if video else 0,
        fps=_rate(video.get("avg_frame_rate")) if video else 0.0,
        audio_rate=int(audio.get("sample_rate", 0)) if audio else 0,
        audio_channels=int(audio.get("channels", 0)) if audio else 0,
        audio_duration=stream_durations["audio"],
        video_duration=stream_durations["video"],
    )


def _segment_bounds(duration: float, segment: tuple[float, float] | None) -> tuple[float, float]:
    """(start, length) in seconds of the part of a stream of ``duration`` seconds to use."""
    if segment is None:
        return 0.0, duration
    start, end = segment
    if start >= duration:
        raise MediaError(
            f"segment starts at {start:g} s, after the stream's end ({duration:.2f} s)"
        )
    return start, min(end, duration) - start


def _audio(path: str | Path, segment: tuple[float, float] | None):
    """The video's audio stream (of ``segment``, where given), its probe and its length (s)."""
    meta = probe(path)
    if not meta.has_audio:
        raise MediaError("no audio track")
    start, length = _segment_bounds(meta.audio_duration, segment)
    stream = ffmpeg.input(str(path), ss=start, t=length) if segment else ffmpeg.input(str(path))
    return stream.audio, meta, length


def _decode(
    audio, source, target: str, fmt: str, rate: int, channels: int, executable: str
) -> bytes:
    """Run ffmpeg: ``audio`` (the audio stream of file ``source``) as 16-bit samples at ``rate``
    with ``channels``, in format ``fmt``, to ``target`` (a file, or "pipe:" for what it
    returns); MediaError where the file cannot give it."""
    command = audio.output(target, format=fmt, acodec="pcm_s16le", ac=channels, ar=rate)
    try:
        return _run(command.global_args("-nostdin", "-v", "error").overwrite_output(), executable)
    except ffmpeg.Error as err:
        raise content_error("cannot decode audio", err, source) from err


def _check_decoded(decoded: int, expected: int, rate: int) -> None:
    if decoded < MIN_DECODED_SHARE * expected:
        raise MediaError(
            f"truncated or undecodable audio: decoded {decoded / rate:.2f} s of "
            f"{expected / rate:.2f} s"
        )


def decode_audio(
    path: str | Path,
    rate: int,
    *,
    segment: tuple[float, float] | None = None,
    channels: int = 1,
    executable: str = "ffmpeg",
) -> tuple[np.ndarray, Probe]:
    """Decode to int16 at ``rate``, exactly round(length * rate) samples long: mono (L,), or
    (L, channels) for more than one channel.

    Decoders differ by a few samples on the same track, so the result is cropped or zero-padded
    to the length the audio stream states; a shortfall beyond that means a truncated file.
    """
    audio, meta, length = _audio(path, segment)
    raw = _decode(audio, path, "pipe:", "s16le", rate, channels, executable)
    samples = np.frombuffer(raw, dtype="<i2").reshape(-1, channels)
    expected = round(length * rate)
    _check_decoded(len(samples), expected, rate)
    out = np.zeros((expected, channels), dtype=np.int16)
    out[: min(expected, len(samples))] = samples[:expected]
    return (out[:, 0] if channels == 1 else out), meta


def decode_to_wav(
    path: str | Path, wav: str | Path, rate: int, channels: int, executable: str = "ffmpeg"
) -> None:
    """The video's sound as a 16-bit WAV at ``rate`` with ``channels``, decoded straight to the
    file (a long video's sound is never held in memory)."""
    _decode(ffmpeg.input(str(path)).audio, path, str(wav), "wav", rate, channels, executable)


def wav_writer(path: str | Path, rate: int, channels: int) -> wave.Wave_write:
    """An open 16-bit WAV at ``rate`` with ``channels``, for ``writeframes``."""
    writer = wave.open(str(path), "wb")
    writer.setnchannels(channels)
    writer.setsampwidth(2)
    writer.setframerate(rate)
    return writer


def write_wav(path: str | Path, samples: np.ndarray, rate: int) -> None:
    """16-bit WAV of mono (L,) or multichannel (L, C) samples, written to a temp file and
    renamed into place."""
    with atomic_path(path) as tmp:
        with wav_writer(tmp, rate, 1 if samples.ndim == 1 else samples.shape[1]) as w:
            w.writeframes(np.ascontiguousarray(samples, dtype="<i2").tobytes())


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path), "rb") as w:
        if w.getnchannels() != 1 or w.getsampwidth() != 2:
            raise ValueError(f"{path}: expected mono 16-bit WAV")
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2"), w.getframerate()


class WavReader:
    """A 16-bit WAV read a stretch at a time (a long video's sound is never held whole):
    ``read(start, end)`` gives samples (C, end - start) as float32 in [-1, 1), silence before
    its start and past its end."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.file = wave.open(str(path), "rb")
        if self.file.getsampwidth() != 2:
            self.file.close()
            raise ValueError(f"{path}: expected a 16-bit WAV")
        self.rate, self.channels = self.file.getframerate(), self.file.getnchannels()
        self.length = self.file.getnframes()

    def read(self, start: int, end: int) -> np.ndarray:
        out = np.zeros((self.channels, end - start), dtype=np.float32)
        lo, hi = max(start, 0), min(end, self.length)
        if hi > lo:
            self.file.setpos(lo)
            raw = np.frombuffer(self.file.readframes(hi - lo), "<i2").reshape(-1, self.channels)
            out[:, lo - start : lo - start + len(raw)] = raw.T / 32768.0
        return out

    def mono(self, start: int, end: int) -> np.ndarray:
        """``read`` of a mono WAV, as (end - start,)."""
        return self.read(start, end)[0]

    def close(self) -> None:
        self.file.close()

    def __enter__(self) -> WavReader:
        return self

    def __exit__(self, *failure) -> None:
        self.close()


def extract_frames(
    path: str | Path,
    out_dir: str | Path,
    fps: float,
    *,
    segment: tuple[float, float] | None = None,
    max_side: int | None = None,
    min_frames: int = 1,
    max_frames: int | None = None,
    jpeg_quality: int = 2,
    executable: str = "ffmpeg",
) -> tuple[int, Probe]:
    """JPEGs 000001.jpg, ... at ``fps`` into ``out_dir`` (replaced atomically as a whole), the
    first ``max_frames`` of them where given.

    ffmpeg's fps filter gives frame k (1-based) the picture shown just before (k - 0.5) / fps
    seconds, the centre of the k-th interval, which is the time the loader pairs audio with.
    """
    meta = probe(path)
    if not meta.has_video:
        raise MediaError("no video track")
    start, length = _segment_bounds(meta.video_duration, segment)
    if max_frames is not None:
        length = min(length, max_frames / fps)
    stream = ffmpeg.input(str(path), ss=start, t=length) if segment else ffmpeg.input(str(path))
    video = stream.video.filter("fps", fps=fps)
    if max_side:
        # Shrink only, keep the aspect ratio, even sizes for the JPEG encoder's chroma planes.
        video = video.filter(
            "scale",
            w=f"if(gte(iw,ih),min(iw,{max_side}),-2)",
            h=f"if(gte(iw,ih),-2,min(ih,{max_side}))",
        )
    expected = int(length * fps)
    output = {"q:v": jpeg_quality} | ({"frames:v": max_frames} if max_frames else {})
    with atomic_path(out_dir, directory=True) as tmp:
        try:
            _run(
                video.output(str(tmp / "%06d.jpg"), **output).global_args(
                    "-nostdin", "-v", "error"
                ),
                executable,
            )
        except ffmpeg.Error as err:
            raise content_error("cannot decode video", err, path) from err
        count = len(list(tmp.glob("*.jpg")))
        # One frame of slack: the last interval may hold no picture (variable frame rates).
        if count == 0 or count < MIN_DECODED_SHARE * expected - 1:
            raise MediaError(
                f"truncated or undecodable video: {count} frames of {expected} expected"
            )
        if count < min_frames:
            raise MediaError(
                f"too short: {count} frames at {fps:g} fps, a training clip needs {min_frames}"
            )
    return count, meta


# ----------------------------------------------------------------------------------------------
# The audio and frames stages of one video: media written, facts returned for its record


# Samples copied at a time from the decoded sound into a WAV: a long video's sound is never held.
COPY_BLOCK = 1 << 20


def make_wav(
    video: str | Path,
    wav: str | Path,
    *,
    rate: int,
    min_seconds: float,
    segment: tuple[float, float] | None = None,
) -> dict:
    """Write the video's sound as ``wav``: mono 16-bit at ``rate``, exactly as long as its
    audio stream states (the bytes ``write_wav`` writes of ``decode_audio``'s samples), decoded
    to a scratch file and copied a block at a time; MediaError for a video that cannot give a
    clip."""
    audio, meta, length = _audio(video, segment)
    expected = round(length * rate)
    seconds = expected / rate
    with atomic_path(wav) as tmp:
        # Named so that the next attempt's atomic_path removes it if this one is killed.
        scratch = tmp.with_name(tmp.name + ".raw.tmp")
        try:
            _decode(audio, video, str(scratch), "s16le", rate, 1, "ffmpeg")
            _check_decoded(scratch.stat().st_size // 2, expected, rate)
            if seconds < min_seconds:
                raise MediaError(
                    f"too short: {seconds:.2f} s of audio, one training clip needs "
                    f"{min_seconds:.2f} s"
                )
            if not _copy_samples(scratch, tmp, expected, rate):
                raise MediaError("silent: the audio track holds only zeros")
        finally:
            scratch.unlink(missing_ok=True)
    return {
        "wav": str(wav),
        "audio_rate": rate,
        "samples": expected,
        "seconds": seconds,
        "source_audio_rate": meta.audio_rate,
        "source_channels": meta.audio_channels,
        "segment": list(segment) if segment else None,
    }


def _copy_samples(raw: Path, wav: Path, count: int, rate: int) -> bool:
    """The first ``count`` mono int16 samples of ``raw`` (zeros past its end) as a WAV; whether
    any is not zero."""
    heard = False
    with raw.open("rb") as source, wav_writer(wav, rate, 1) as w:
        for start in range(0, count, COPY_BLOCK):
            n = min(COPY_BLOCK, count - start)
            block = np.fromfile(source, dtype="<i2", count=n)
            heard = heard or bool(block.any())
            w.writeframes(block.tobytes() + bytes(2 * (n - len(block))))
    return heard


def make_frames(
    video: str | Path,
    frames: str | Path,
    *,
    fps: float,
    min_frames: int,
    segment: tuple[float, float] | None = None,
    max_side: int | None = None,
) -> dict:
    """Write the video's frames into the folder ``frames``; MediaError as for ``make_wav``."""
    count, meta = extract_frames(
        video, frames, fps, segment=segment, max_side=max_side, min_frames=min_frames
    )
    return {
        "frames": str(frames),
        "count": count,
        "frame_rate": fps,
        "source_frame_rate": meta.fps,
        "source_size": [meta.width, meta.height],
        "segment": list(segment) if segment else None,
        "time_of_frame": "(k - 0.5) / frame_rate seconds, k = 1, 2, ...",
    }


def mux(video: Path, wav: Path, out: Path) -> None:
    """The video's pictures with ``wav`` as its sound (pictures copied, sound in AAC)."""
    with atomic_path(out) as tmp:
        pictures = ffmpeg.input(str(video)).video
        sound = ffmpeg.input(str(wav)).audio
        command = ffmpeg.output(
            pictures, sound, str(tmp), format="mp4", vcodec="copy", acodec="aac", shortest=None
        )
        try:
            run_tool(command.global_args("-nostdin", "-v", "error").overwrite_output().compile())
        except ffmpeg.Error as err:
            said = f"{out}: ffmpeg could not join pictures and sound"
            raise content_error(said, err, video, wav) from err
