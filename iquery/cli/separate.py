"""Separate the instruments of any video with a trained model: a WAV and an MP4 per instrument,
the residual, a picture of the masks and a page with players.

    iquery separate --checkpoint results/demo/iquery/seed-1234/checkpoints/best-*.ckpt \
        --video my_duet.mp4 --out separated/my_duet [--classes cello flute]

(or ``python -m iquery.cli.separate`` with the same options). The video (a file, or a URL
fetched with yt-dlp) goes through the per-video stages training's videos went through, with the
settings the checkpoint records (its preprocessing recipe): sound at the dataset's rate, frames
at its frame rate and size, instrument detection, motion features, crops by the shards' box
rule and side (``iquery.pipeline.stages.one_video``). Which trained instruments are present
comes from ``--classes`` or, without it, from the detections (a class seen in at least
``--presence`` of the frames). See ``iquery/model/separation.py`` for how a video of any length
is separated.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections import OrderedDict
from pathlib import Path

import numpy as np
from PIL import Image

from iquery.model.full_rate import HIGH_BAND_RULES, MaskStore
from iquery.pipeline.cluster.gpu_slots import add_gpus_argument, claim_gpus
from iquery.pipeline.core.errors import ConfigError, InvalidEntry, MediaError
from iquery.pipeline.core.faults import MachineError
from iquery.pipeline.core.files import atomic_path, write_json
from iquery.pipeline.core.ids import parse_entry
from iquery.pipeline.core.memory import return_freed_blocks
from iquery.pipeline.core.provenance import provenance
from iquery.pipeline.detection.rows import select_boxes
from iquery.pipeline.media.ffmpeg import WavReader, content_error, decode_to_wav, probe, run_tool
from iquery.pipeline.report.heard import TrackFiles, detected_spans
from iquery.pipeline.report.separation_page import masks_figure, write_page
from iquery.pipeline.stages.download import DownloadSettings
from iquery.pipeline.stages.one_video import download_settings, prepare
from iquery.pipeline.stages.shards import crop_frame

DETECTORS = ["background", "owl", "none"]


def video_url(video: str) -> str:
    """The video as a URL the download stage takes: a local file's file:// URL, or the URL."""
    if "://" not in video:
        path = Path(video)
        if not path.is_file():
            raise ConfigError(f"{video}: no such video file")
        return path.resolve().as_uri()
    try:
        parse_entry(video, "--video")  # http(s) or file URLs only; nothing a shell reads
    except InvalidEntry as err:
        raise ConfigError(str(err)) from err
    return video


def recipe_of(system, checkpoint: Path) -> dict:
    """How the checkpoint's training videos were prepared, as its training recorded it."""
    recipe = system.hparams.data_spec.get("recipe")
    if not recipe:
        raise ConfigError(
            f"{checkpoint} does not record how its training videos were prepared (a checkpoint "
            "from before recipes were recorded): train the run again, or convert it again"
        )
    return recipe


def present_classes(rows: np.ndarray, n_frames: int, classes: list[str], share: float) -> list[str]:
    """Trained classes detected in at least ``share`` of the frames, most frames first."""
    named = rows[rows[:, 1] >= 0] if rows.size else rows
    if not named.size:
        return []
    seen = {}
    for k in np.unique(named[:, 1]).astype(int):
        seen[k] = len(np.unique(named[named[:, 1] == k, 0]))
    by_frames = sorted(seen.items(), key=lambda item: -item[1])
    return [
        classes[k] for k, frames in by_frames if frames >= share * n_frames and k < len(classes)
    ]


class Crops:
    """Each class's object crop of a frame, by the shards' box rule and crop, cut when asked
    for; the last ``keep`` crops are kept (neighbouring windows share frames), not a long
    video's every crop."""

    def __init__(
        self, jpgs: list[Path], rows: np.ndarray, *, side: int, own_class: bool, keep: int = 256
    ):
        self.jpgs, self.rows, self.side, self.own_class = jpgs, rows, side, own_class
        self.size = Image.open(jpgs[0]).size
        self.boxes: dict[int, np.ndarray] = {}
        self.cache: OrderedDict[tuple[int, int], bytes] = OrderedDict()
        self.keep = keep

    def __call__(self, class_index: int, frames: list[int]) -> list[bytes]:
        if class_index not in self.boxes:
            width, height = self.size
            own = class_index if self.own_class else None
            self.boxes[class_index] = select_boxes(
                self.rows, len(self.jpgs), width=width, height=height, own_class=own
            )
        out = []
        for f in frames:
            key = (class_index, f)
            if key not in self.cache:
                box = self.boxes[class_index][f]
                self.cache[key] = crop_frame(Image.open(self.jpgs[f]), box, self.side)
                if len(self.cache) > self.keep:
                    self.cache.popitem(last=False)
            self.cache.move_to_end(key)
            out.append(self.cache[key])
        return out


def mux(video: Path, wav: Path, out: Path) -> None:
    """The video's pictures with ``wav`` as its sound (pictures copied, sound in AAC)."""
    import ffmpeg

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


# The project's config.yaml holds every setting's default: block separate's for the options
# below, block download's for fetching a URL (the workflow's rule passes the same, from the
# config it runs with), so none is written twice.
PROJECT_CONFIG = Path(__file__).resolve().parents[2] / "config.yaml"


def project_config() -> dict:
    import yaml

    try:
        return yaml.safe_load(PROJECT_CONFIG.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise SystemExit(
            f"separate: {PROJECT_CONFIG}: the project's config, which holds the defaults, is "
            f"unreadable ({err}); run from the project's clone"
        ) from err


def main(argv: list[str] | None = None) -> dict:
    config = project_config()
    defaults = config["separate"]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    model = parser.add_mutually_exclusive_group(required=True)
    model.add_argument("--checkpoint", type=Path, help="a checkpoint file")
    model.add_argument("--summary", type=Path, help="a run's train_summary.json: its --which")
    parser.add_argument("--which", choices=["best", "last"], default="best")
    parser.add_argument("--video", required=True, help="a video file, or its URL")
    parser.add_argument("--out", required=True, type=Path, help="folder for what is written")
    parser.add_argument("--classes", nargs="*", default=None, help="the instruments to take out")
    parser.add_argument(
        "--presence", type=float, default=defaults["presence"], help="share of frames, see above"
    )
    parser.add_argument(
        "--detector",
        choices=DETECTORS,
        default=None,
        help="instead of the recipe's (a recipe's 'precomputed' becomes owl: a new video has no "
        "detection file); none: whole frames",
    )
    parser.add_argument("--expect-classes", nargs="*", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--offline", action="store_true", help="fetch nothing")
    parser.add_argument(
        "--batch-size", type=int, default=defaults["batch_size"], help="windows separated at once"
    )
    parser.add_argument(
        "--model-rate",
        action="store_true",
        help="write mono tracks at the model's rate (as the model heard the sound) instead of "
        "tracks at the video's own rate and channels",
    )
    parser.add_argument(
        "--high-band",
        choices=HIGH_BAND_RULES,
        default=defaults["high_band"],
        help="what each track gets above the model's Nyquist frequency (full-rate tracks): "
        "share: its share of the top octave it heard; edge: its mask at the highest bin; none: "
        "nothing (the residual keeps it)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=2,
        help="CPU threads (default 2, as the workflow's separate rule: float sums depend on the "
        "thread count, so the same threads give the same tracks to the bit)",
    )
    parser.add_argument(
        "--keep-prepared",
        action="store_true",
        help="keep the frames, detection rows, every frame's crops and the motion tokens in "
        "OUT/prepared (to compare with what training's shards hold)",
    )
    parser.add_argument(
        "--download-settings",
        default=None,
        help="how a URL is fetched: the download stage's settings as JSON (default: config.yaml's "
        "block download, at block separate's format)",
    )
    add_gpus_argument(parser)
    args = parser.parse_args(argv)
    try:
        args.download = (
            DownloadSettings.from_json(args.download_settings)
            if args.download_settings
            else download_settings(config, config["dataset"])
        )
    except (ConfigError, ValueError) as err:
        parser.error(f"--download-settings: {err}")
    if args.threads < 1:
        parser.error(f"--threads {args.threads}: at least 1")
    claim_gpus(args.gpus)
    return_freed_blocks()  # memory flat however long the video (iquery.pipeline.core.memory)
    try:
        if args.summary is not None:
            from iquery.model.evaluation import find_checkpoint

            args.checkpoint = find_checkpoint(args.summary, args.which)
        return separate_video(args)
    except (ConfigError, MediaError, MachineError, ValueError) as err:
        raise SystemExit(f"separate: {err}") from err


def load_model(checkpoint: Path, expected: list[str] | None):
    from iquery.model.system import load_system

    if not checkpoint.is_file():
        raise ConfigError(f"{checkpoint}: no such checkpoint; train a run first, or give its path")
    system = load_system(checkpoint)
    classes = list(system.hparams.data_spec.get("classes") or [])
    if not classes:
        raise ConfigError(f"{checkpoint}: the checkpoint does not list its classes")
    if expected is not None and expected != classes:
        raise ConfigError(
            f"{checkpoint} was trained on classes {classes}, the dataset lists {expected}: "
            "give the checkpoint of a run of this dataset"
        )
    return system, classes


def separate_video(args) -> dict:
    import torch

    torch.set_num_threads(args.threads)
    started = time.time()
    system, classes = load_model(args.checkpoint, args.expect_classes)
    recipe = recipe_of(system, args.checkpoint)
    detector = check_request(args, classes, recipe)
    args.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".work-", dir=args.out))
    try:
        print(f"separate: {args.video}: preparing it as the training videos were", file=sys.stderr)
        prepared = prepare(
            video_url(args.video),
            "video",
            work,
            recipe,
            detector=None if detector == "none" else detector,
            detect=detector != "none",
            motion=system.uses_motion,
            offline=args.offline,
            threads=args.threads,
            download=args.download,
        )
        rate = recipe["stages"]["audio"]["audio_rate"]
        fps = recipe["stages"]["frames"]["frame_rate"]
        rows = prepared.rows()
        wanted, chosen_from = choose_classes(args, detector, rows, prepared.count(), classes)
        windows, files, output, at_model_rate = make_tracks(
            args, system, classes, recipe, prepared, wanted, rows, work
        )
        for name in ["mixture", *wanted, "residual"]:
            mux(prepared.video, args.out / f"{name}.wav", args.out / f"{name}.mp4")
        axis = write_masks_figure(args.out, at_model_rate, wanted)
        facts = {
            "video": args.video,
            "checkpoint": str(args.checkpoint),
            "variant": system.hparams.variant,
            "classes": wanted,
            "classes_from": chosen_from,
            "model_classes": classes,
            "audio_rate": rate,
            "frame_rate": fps,
            "output": output | {"high_band": None if args.model_rate else args.high_band},
            "seconds_audio": files.seconds(),
            "windows": len(windows.starts),
            "window_samples": windows.clip,
            "detector": detector,
            "recipe": recipe,
            "seconds_taken": round(time.time() - started, 1),
            "heard": heard(files.heard(), rows, wanted, classes, detector, fps, windows, rate),
            "train_config_hash": system.hparams.data_spec.get("config_hash"),
            "provenance": provenance(vars(args) | {"checkpoint": str(args.checkpoint)}),
        }
        facts["real_time_factor"] = round(facts["seconds_taken"] / facts["seconds_audio"], 3)
        write_page(args.out, f"Separated: {Path(args.video).name}", wanted, facts, axis)
        write_json(args.out / "separation.json", facts)
        print(
            f"separate: {', '.join(wanted)} and the residual in {args.out} "
            f"({facts['seconds_taken']} s for {facts['seconds_audio']:.1f} s of sound)",
            file=sys.stderr,
        )
        return facts
    finally:
        shutil.rmtree(work, ignore_errors=True)


def check_request(args, classes: list[str], recipe: dict) -> str:
    """The named classes checked against the model's; the detector to use."""
    unknown = [c for c in args.classes or [] if c not in classes]
    if unknown:
        raise ConfigError(
            f"--classes: {', '.join(unknown)} not among the model's classes: {', '.join(classes)}"
        )
    detector = args.detector or recipe["stages"]["detect"]["detector"]
    return "owl" if detector == "precomputed" else detector  # a new video has no detection file


def make_tracks(args, system, classes, recipe, prepared, wanted, rows, work: Path):
    """Separate the prepared video and write its tracks (with the mixture and the residual):
    at the model's rate, and unless ``--model-rate`` at the video's own rate and channels.
    Returns the windows, the output files (``TrackFiles``), their rate and channels, and the
    folder of the model-rate WAVs (the output, or a scratch folder the picture is drawn from)."""
    rate = recipe["stages"]["audio"]["audio_rate"]
    names = ["mixture", *wanted, "residual"]
    at_model_rate = args.out if args.model_rate else work / "model-rate"
    at_model_rate.mkdir(exist_ok=True)
    masks = None if args.model_rate else MaskStore(work / "masks.f32")
    with (
        WavReader(prepared.audio) as sound,
        TrackFiles(at_model_rate, names, rate, 1) as model_files,
    ):
        write = model_rate_writer(model_files, sound)
        windows = separate_prepared(
            args, system, classes, recipe, prepared, wanted, rows, sound, write, masks
        )
    if args.model_rate:
        return windows, model_files, {"rate": rate, "channels": 1}, at_model_rate
    files, output = at_full_rate(args, system, prepared.video, wanted, masks, work)
    return windows, files, output, at_model_rate


def separate_prepared(
    args, system, classes, recipe: dict, prepared, wanted, rows, sound: WavReader, tracks_to, masks
):
    """Separate the prepared video's instruments ``wanted`` from its sound at the model's rate
    (read a window at a time): its tracks go to ``tracks_to`` and its masks to ``masks`` (a
    ``MaskStore``, or None) as they are made (``separate_stream``). Returns the windows."""
    import torch

    from iquery.model.separation import separate_stream

    jpgs, motion = prepared.frame_files(), prepared.tokens()
    side = recipe["shards"]["crop_side"]
    crops = Crops(jpgs, rows, side=side, own_class=recipe["box_rule"] == "own_class")
    if args.keep_prepared:
        wanted_indices = {name: classes.index(name) for name in wanted}
        keep_prepared(args.out / "prepared", prepared.frames, rows, crops, motion, wanted_indices)
    return separate_stream(
        system,
        sound.mono,
        sound.length,
        rate=recipe["stages"]["audio"]["audio_rate"],
        fps=recipe["stages"]["frames"]["frame_rate"],
        n_frames=len(jpgs),
        class_indices=[classes.index(c) for c in wanted],
        crops=crops,
        tracks_to=tracks_to,
        masks_to=masks,
        motion=motion,
        batch_size=args.batch_size,
        device="cuda" if torch.cuda.is_available() else "cpu",
        progress=progress_bar(),
    )


def model_rate_writer(files: TrackFiles, sound: WavReader):
    """What takes the tracks at the model's rate as they are made: each stretch written with
    the mixture's and the residual's."""
    done = 0

    def write(tracks: np.ndarray) -> None:
        nonlocal done
        mixture = sound.mono(done, done + tracks.shape[1])
        files.write_all(mixture, tracks, (mixture - tracks.sum(axis=0)).astype(np.float32))
        done += tracks.shape[1]

    return write


def heard(facts, rows, wanted, classes, detector, fps, windows, model_rate) -> dict:
    """Each output's loudness and share of the mixture's energy (``facts``); for each track,
    where its instrument was detected (only a detector that names classes says)."""
    half = windows.clip / 2 / model_rate
    spans = [
        (windows.centre_seconds(w, model_rate) - half, windows.centre_seconds(w, model_rate) + half)
        for w in range(len(windows.starts))
    ]
    for name in wanted:
        seen = detected_spans(rows, classes.index(name), fps, spans) if detector == "owl" else None
        facts[name]["detected"] = seen
    return facts


def choose_classes(args, detector: str, rows, n_frames: int, classes: list[str]):
    """The instruments to take out, and how they were chosen: named, or detected by OWLv2."""
    if args.classes:
        return list(args.classes), "by the user"
    if detector != "owl":
        raise ConfigError(
            f"the {detector} detector does not tell instruments apart: name them "
            f"with --classes (the model knows {', '.join(classes)})"
        )
    wanted = present_classes(rows, n_frames, classes, args.presence)
    if not wanted:
        raise ConfigError(
            "no trained instrument was detected in enough frames: name them with "
            f"--classes (the model knows {', '.join(classes)})"
        )
    return wanted, f"from the detections (seen in at least {args.presence:.0%} of frames)"


def at_full_rate(args, system, video: Path, wanted: list[str], masks, work: Path):
    """The mixture, each track and the residual at the video's own rate and channels, written
    block by block: the model's masks (a ``MaskStore``) applied to the video's own sound,
    decoded once to a file and read a block at a time (``iquery.model.full_rate``)."""
    from iquery.model.full_rate import apply_masks_in_blocks

    meta = probe(video)
    rate, channels = meta.audio_rate, meta.audio_channels
    decode_to_wav(video, work / "full-rate.wav", rate, channels)
    length = round(meta.audio_duration * rate)
    with (
        WavReader(work / "full-rate.wav") as sound,
        TrackFiles(args.out, ["mixture", *wanted, "residual"], rate, channels) as files,
    ):
        apply_masks_in_blocks(
            masks.timeline(),
            sound.read,
            length,
            rate,
            lambda start, block, tracks, residual: files.write_all(block, tracks, residual),
            high_band=args.high_band,
            threshold=system.threshold,
        )
    return files, {"rate": rate, "channels": channels}


# The masks picture's columns at most: a long video's spectrogram is pooled to this many.
PICTURE_COLUMNS = 2000


def write_masks_figure(out: Path, model_rate: Path, wanted: list[str]) -> tuple[float, float]:
    """The masks picture, from the mixture and the tracks at the model's rate (the WAVs in
    ``model_rate``): what the model decided."""
    with WavReader(model_rate / "mixture.wav") as mixture:
        rate, length = mixture.rate, mixture.length
        sound = overview(mixture.mono, length)
    masks = {}
    for name in wanted:
        with WavReader(model_rate / f"{name}.wav") as track:
            masks[name] = overview(track.mono, length)
    return masks_figure(sound, masks, length / rate, rate, out / "masks.png")


def overview(read, length: int, n_fft: int = 1022, hop: int = 256) -> np.ndarray:
    """The magnitude spectrogram (n_fft // 2 + 1, at most PICTURE_COLUMNS) of a sound of
    ``length`` samples, read a piece at a time (``read(start, end)``, silence beyond its ends):
    its frames averaged in groups, a long video's whole spectrogram never held."""
    import torch

    frames = 1 + length // hop
    group = -(-frames // PICTURE_COLUMNS)
    per_piece = group * max(1, 4096 // group)  # whole groups, about 4096 frames, however long
    window = torch.hann_window(n_fft, periodic=True)
    columns = []
    for first in range(0, frames, per_piece):
        count = min(per_piece, frames - first)
        start = first * hop - n_fft // 2  # frames centred on their sample
        piece = reflected(read, length, start, start + (count - 1) * hop + n_fft)
        spec = torch.stft(
            torch.from_numpy(np.ascontiguousarray(piece, dtype=np.float32)),
            n_fft,
            hop,
            window=window,
            center=False,
            return_complex=True,
        )
        spec = spec.abs().numpy()
        usable = count // group * group
        pooled = spec[:, :usable].reshape(spec.shape[0], -1, group).mean(axis=2)
        if usable < count:
            pooled = np.concatenate([pooled, spec[:, usable:].mean(axis=1, keepdims=True)], axis=1)
        columns.append(pooled)
    return np.concatenate(columns, axis=1)


def reflected(read, length: int, start: int, end: int) -> np.ndarray:
    """Samples ``start`` to ``end`` of a sound, mirrored at its ends (as a centred STFT pads)."""
    at = np.arange(start, end)
    at = np.where(at < 0, -at, at)
    at = np.where(at >= length, 2 * (length - 1) - at, at)
    lo = int(at.min())
    return read(lo, int(at.max()) + 1)[at - lo]


def keep_prepared(folder: Path, frames: Path, rows, crops: Crops, motion, wanted: dict[str, int]):
    """What the video became before separation: frames/, detections.npy (K, 7), crops/CLASS/
    (each frame's crop, JPEG, as a shard stores it) and motion.npy (T', C)."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    shutil.copytree(frames, folder / "frames")
    np.save(folder / "detections.npy", rows)
    if motion is not None:
        np.save(folder / "motion.npy", motion)
    for name, index in wanted.items():
        (folder / "crops" / name).mkdir(parents=True)
        for k in range(len(crops.jpgs)):
            (jpeg,) = crops(index, [k])
            (folder / "crops" / name / f"{k + 1:06d}.jpg").write_bytes(jpeg)


def progress_bar():
    """Progress of the windows: a bar on a terminal; in a log (stderr not a terminal), a line
    at each tenth, where a bar's redraws would make one line of tens of kilobytes."""
    from tqdm import tqdm

    bar, said = None, 0

    def update(done: int, total: int) -> None:
        nonlocal bar, said
        if not sys.stderr.isatty():
            said += done
            tenth = max(total // 10, 1)
            if said // tenth != (said - done) // tenth or said >= total:
                print(f"separate: {said}/{total} windows", file=sys.stderr, flush=True)
            return
        if bar is None:
            bar = tqdm(total=total, desc="separate", unit="window", file=sys.stderr)
        bar.update(done)
        if bar.n >= total:
            bar.close()

    return update


if __name__ == "__main__":
    main()
