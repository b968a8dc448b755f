"""Separate one video: prepare it as the checkpoint's training videos were prepared (its
recipe, through the per-video stages: ``iquery.pipeline.stages.one_video``), choose the
instruments, separate it a window at a time (``iquery.model.separation``), write the tracks at
the model's rate and at the video's own rate and channels, each with the video's pictures, the
masks picture, ``separation.json`` and a page. ``iquery separate`` is the command over it."""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from iquery.model.full_rate import MaskStore
from iquery.pipeline.core.errors import ConfigError, InvalidEntry
from iquery.pipeline.core.files import write_json
from iquery.pipeline.core.ids import parse_entry
from iquery.pipeline.core.provenance import provenance
from iquery.pipeline.media.ffmpeg import WavReader, decode_to_wav, mux, probe
from iquery.pipeline.report.heard import TrackFiles, detected_spans
from iquery.pipeline.report.separation_page import write_page
from iquery.pipeline.separate.crops import Crops, keep_prepared
from iquery.pipeline.separate.picture import write_masks_figure
from iquery.pipeline.stages.one_video import prepare

# The project's config.yaml holds every setting's default: block separate's for the options
# below, block download's for fetching a URL (the workflow's rule passes the same, from the
# config it runs with), so none is written twice.
PROJECT_CONFIG = Path(__file__).resolve().parents[3] / "config.yaml"


def project_config() -> dict:
    import yaml

    try:
        return yaml.safe_load(PROJECT_CONFIG.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise SystemExit(
            f"separate: {PROJECT_CONFIG}: the project's config, which holds the defaults, is "
            f"unreadable ({err}); run from the project's clone"
        ) from err


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


def load_model(checkpoint: Path, expected: list[str] | None):
    from iquery.model.separator import load_separator

    if not checkpoint.is_file():
        raise ConfigError(f"{checkpoint}: no such checkpoint; train a run first, or give its path")
    system = load_separator(checkpoint)
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
        motion_spans=prepared.token_spans(),
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
