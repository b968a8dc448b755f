"""Separate the instruments of any video with a trained model: a WAV and an MP4 per instrument,
the residual, a picture of the masks and a page with players.

    python -m iquery.cli.separate \
        --checkpoint results/demo/iquery/seed-1234/checkpoints/best-*.ckpt \
        --video my_duet.mp4 --out separated/my_duet [--classes cello flute]

The video (a file, or a URL fetched with yt-dlp) goes through the steps training's videos went
through, with the same settings: sound at the dataset's rate, frames at its frame rate,
instrument detection, motion features. Which trained instruments are present comes from
``--classes`` or, without it, from the detections (a class seen in at least ``--presence`` of
the frames). See ``iquery/model/separation.py`` for how a video of any length is separated.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from iquery.pipeline.cluster.gpu_slots import add_gpus_argument, claim_gpus
from iquery.pipeline.core.errors import ConfigError, InvalidEntry, MediaError
from iquery.pipeline.core.files import atomic_path, write_json
from iquery.pipeline.core.ids import parse_entry
from iquery.pipeline.core.provenance import provenance
from iquery.pipeline.detection.rows import select_boxes
from iquery.pipeline.media.ffmpeg import make_frames, make_wav, probe, read_wav, write_wav
from iquery.pipeline.stages.shards import crop_frame


def add_preprocessing_arguments(parser: argparse.ArgumentParser) -> None:
    """How the video is prepared: as the dataset the model was trained on was."""
    group = parser.add_argument_group("preparing the video (as the training videos were)")
    group.add_argument("--audio-rate", type=int, default=None, help="default: the model's")
    group.add_argument("--fps", type=float, default=None, help="frames/s; default: the model's")
    group.add_argument("--max-side", type=int, default=None, help="frames' longer side, pixels")
    group.add_argument("--detector", choices=["background", "owl", "none"], default="background")
    group.add_argument("--owl-model", default="google/owlv2-base-patch16-ensemble")
    group.add_argument("--owl-threshold", type=float, default=0.1)
    group.add_argument("--crop-side", type=int, default=246, help="object crops' shorter side")
    group.add_argument("--own-class-boxes", action="store_true", help="MUSIC-21/AVE's box rule")
    group.add_argument("--motion-backbone", default="inception")
    group.add_argument("--motion-weights", default=None)
    group.add_argument("--motion-resize-short", type=int, default=None)
    group.add_argument("--motion-max-frames", type=int, default=160)
    group.add_argument("--seed", type=int, default=1234, help="random motion weights' seed")


def obtain(video: str, work: Path, offline: bool) -> Path:
    """The video as a local file: a path, or a URL fetched into ``work``."""
    if "://" not in video:
        path = Path(video)
        if not path.is_file():
            raise ConfigError(f"{video}: no such video file")
        return path
    try:
        parse_entry(video, "--video")  # http(s) or file URLs only; nothing a shell reads
    except InvalidEntry as err:
        raise ConfigError(str(err)) from err
    from iquery.pipeline.media.download import obtain_video

    target = work / "video.mp4"
    options = {"fmt": "best[height<=720]/best", "attempts": 3, "backoff_s": 5, "socket_timeout": 30}
    obtain_video(video, target, offline=offline, **options)
    return target


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
    """Each class's object crop of a frame, by the shards' box rule and crop, cut once when
    first asked for."""

    def __init__(self, jpgs: list[Path], rows: np.ndarray, *, side: int, own_class: bool):
        self.jpgs, self.rows, self.side, self.own_class = jpgs, rows, side, own_class
        self.size = Image.open(jpgs[0]).size
        self.boxes: dict[int, np.ndarray] = {}
        self.cache: dict[tuple[int, int], bytes] = {}

    def __call__(self, class_index: int, frames: list[int]) -> list[bytes]:
        if class_index not in self.boxes:
            width, height = self.size
            own = class_index if self.own_class else None
            self.boxes[class_index] = select_boxes(
                self.rows, len(self.jpgs), width=width, height=height, own_class=own
            )
        for f in frames:
            if (class_index, f) not in self.cache:
                box = self.boxes[class_index][f]
                self.cache[class_index, f] = crop_frame(Image.open(self.jpgs[f]), box, self.side)
        return [self.cache[class_index, f] for f in frames]


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
            command.global_args("-loglevel", "error", "-nostdin").overwrite_output().run(
                capture_stdout=True, capture_stderr=True
            )
        except ffmpeg.Error as err:
            reason = err.stderr.decode(errors="replace").strip().splitlines()[-1:]
            raise MediaError(f"{out}: ffmpeg could not join pictures and sound: {reason}") from err


def masks_figure(mixture: np.ndarray, tracks: dict[str, np.ndarray], rate: int, path: Path):
    """The mixture's spectrogram, and over it each track's share of every bin (its mask)."""
    import torch

    from iquery.model.audio import stft
    from iquery.pipeline.report.report import pyplot

    plt = pyplot()

    def spectrum(x):
        return stft(torch.from_numpy(x), 1022, 256).abs().numpy()

    mix = spectrum(mixture) + 1e-8
    seconds = len(mixture) / rate
    extent = (0, seconds, 0, rate / 2000)
    fig, axes = plt.subplots(len(tracks) + 1, 1, figsize=(10, 2.2 * (len(tracks) + 1)))
    axes = np.atleast_1d(axes)
    axes[0].imshow(20 * np.log10(mix), origin="lower", aspect="auto", extent=extent, cmap="magma")
    axes[0].set_title("mixture (dB)")
    for ax, (name, track) in zip(axes[1:], tracks.items(), strict=True):
        share = np.clip(spectrum(track) / mix, 0, 1)
        share[mix < 1e-3 * mix.max()] = np.nan  # near silence: no share worth showing
        ax.imshow(20 * np.log10(mix), origin="lower", aspect="auto", extent=extent, cmap="gray")
        ax.imshow(share, origin="lower", aspect="auto", extent=extent, cmap="viridis", alpha=0.7)
        ax.set_title(f"{name}: its share of each time-frequency bin")
    for ax in axes:
        ax.set_ylabel("kHz")
    axes[-1].set_xlabel("seconds")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=80)
    plt.close(fig)


def write_page(out: Path, title: str, names: list[str], facts: dict) -> None:
    """index.html beside the files: a player per track (video and sound), and the masks."""
    import base64
    import html

    picture = base64.b64encode((out / "masks.png").read_bytes()).decode()
    rows = "\n".join(
        f"<tr><td>{html.escape(n)}</td><td><video controls width=320 src='{html.escape(n)}.mp4'>"
        f"</video></td><td><audio controls src='{html.escape(n)}.wav'></audio></td></tr>"
        for n in ["mixture", *names, "residual"]
    )
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;max-width:1000px;margin:2em auto}}td{{padding:4px 12px}}
</style></head><body><h1>{html.escape(title)}</h1>
<p>Separated with {html.escape(facts["checkpoint"])} ({html.escape(facts["variant"])}), classes
chosen {html.escape(facts["classes_from"])}; {facts["seconds_audio"]:.1f} s of sound in
{facts["windows"]} windows. The tracks and the residual add up to the mixture.</p>
<table><tr><th>track</th><th>video</th><th>sound</th></tr>
{rows}</table>
<h2>Masks</h2><img alt="masks over the mixture's spectrogram" style="width:100%"
src="data:image/png;base64,{picture}">
</body></html>
"""
    with atomic_path(out / "index.html") as tmp:
        Path(tmp).write_text(page)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    model = parser.add_mutually_exclusive_group(required=True)
    model.add_argument("--checkpoint", type=Path, help="a checkpoint file")
    model.add_argument("--summary", type=Path, help="a run's train_summary.json: its --which")
    parser.add_argument("--which", choices=["best", "last"], default="best")
    parser.add_argument("--video", required=True, help="a video file, or its URL")
    parser.add_argument("--out", required=True, type=Path, help="folder for what is written")
    parser.add_argument("--classes", nargs="*", default=None, help="the instruments to take out")
    parser.add_argument("--presence", type=float, default=0.1, help="share of frames, see above")
    parser.add_argument("--expect-classes", nargs="*", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--offline", action="store_true", help="fetch nothing")
    parser.add_argument("--batch-size", type=int, default=4, help="windows separated at once")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument(
        "--keep-prepared",
        action="store_true",
        help="keep the frames, detection rows, every frame's crops and the motion tokens in "
        "OUT/prepared (to compare with what training's shards hold)",
    )
    add_preprocessing_arguments(parser)
    add_gpus_argument(parser)
    args = parser.parse_args(argv)
    claim_gpus(args.gpus)
    try:
        if args.summary is not None:
            from iquery.model.evaluation import find_checkpoint

            args.checkpoint = find_checkpoint(args.summary, args.which)
        return separate_video(args)
    except (ConfigError, MediaError, ValueError) as err:
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

    from iquery.model.separation import separate_audio

    if args.threads:
        torch.set_num_threads(args.threads)
    started = time.time()
    system, classes = load_model(args.checkpoint, args.expect_classes)
    spec = system.hparams.data_spec
    if args.classes:
        unknown = [c for c in args.classes if c not in classes]
        if unknown:
            raise ConfigError(
                f"--classes: {', '.join(unknown)} not among the model's classes: "
                f"{', '.join(classes)}"
            )
    rate = args.audio_rate or spec.get("audio_rate") or 11025
    fps = args.fps or spec.get("frame_rate") or 1
    args.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".work-", dir=args.out))
    try:
        video = obtain(args.video, work, args.offline)
        meta = probe(video)
        if not meta.has_audio:
            raise MediaError(f"{args.video}: the video has no sound track; nothing to separate")
        if not meta.has_video:
            raise MediaError(f"{args.video}: no pictures; the model needs to see the players")
        print(f"separate: {video} ({meta.duration:.1f} s), preparing", file=sys.stderr)
        make_wav(video, work / "audio.wav", rate=rate, min_seconds=0.1)
        samples, _ = read_wav(work / "audio.wav")
        audio = samples.astype(np.float32) / 32768.0
        make_frames(video, work / "frames", fps=fps, min_frames=1, max_side=args.max_side)
        jpgs = sorted((work / "frames").glob("*.jpg"))
        rows = detect(args, work / "frames", classes)
        if args.classes:
            wanted, chosen_from = list(args.classes), "by the user"
        else:
            if args.detector != "owl":
                raise ConfigError(
                    f"the {args.detector} detector does not tell instruments apart: name them "
                    f"with --classes (the model knows {', '.join(classes)})"
                )
            wanted = present_classes(rows, len(jpgs), classes, args.presence)
            chosen_from = f"from the detections (seen in at least {args.presence:.0%} of frames)"
            if not wanted:
                raise ConfigError(
                    "no trained instrument was detected in enough frames: name them with "
                    f"--classes (the model knows {', '.join(classes)})"
                )
        motion = None
        if system.uses_motion:
            motion = motion_tokens(args, work / "frames", fps)
        crops = Crops(jpgs, rows, side=args.crop_side, own_class=args.own_class_boxes)
        if args.keep_prepared:
            wanted_indices = {name: classes.index(name) for name in wanted}
            keep_prepared(
                args.out / "prepared", work / "frames", rows, crops, motion, wanted_indices
            )
        device = "cuda" if torch.cuda.is_available() else "cpu"
        result = separate_audio(
            system,
            audio,
            rate=rate,
            fps=fps,
            n_frames=len(jpgs),
            class_indices=[classes.index(c) for c in wanted],
            crops=crops,
            motion=motion,
            batch_size=args.batch_size,
            device=device,
            progress=progress_bar(),
        )
        tracks = dict(zip(wanted, result["tracks"], strict=True))
        outputs = {"mixture": audio, **tracks, "residual": result["residual"]}
        for name, signal in outputs.items():
            wav = args.out / f"{name}.wav"
            write_wav(wav, np.round(np.clip(signal, -1, 1) * 32767).astype(np.int16), rate)
            mux(video, wav, args.out / f"{name}.mp4")
        masks_figure(audio, tracks, rate, args.out / "masks.png")
        facts = {
            "video": args.video,
            "checkpoint": str(args.checkpoint),
            "variant": system.hparams.variant,
            "classes": wanted,
            "classes_from": chosen_from,
            "model_classes": classes,
            "audio_rate": rate,
            "frame_rate": fps,
            "seconds_audio": len(audio) / rate,
            "windows": len(result["windows"].starts),
            "window_samples": result["windows"].clip,
            "detector": args.detector,
            "seconds_taken": round(time.time() - started, 1),
            "train_config_hash": spec.get("config_hash"),
            "provenance": provenance(vars(args) | {"checkpoint": str(args.checkpoint)}),
        }
        write_page(args.out, f"Separated: {Path(args.video).name}", wanted, facts)
        write_json(args.out / "separation.json", facts)
        print(
            f"separate: {', '.join(wanted)} and the residual in {args.out} "
            f"({facts['seconds_taken']} s for {facts['seconds_audio']:.1f} s of sound)",
            file=sys.stderr,
        )
        return facts | {"tracks": tracks, "residual": result["residual"], "mixture": audio}
    finally:
        shutil.rmtree(work, ignore_errors=True)


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
    all_frames = list(range(len(crops.jpgs)))
    for name, index in wanted.items():
        (folder / "crops" / name).mkdir(parents=True)
        for k, jpeg in enumerate(crops(index, all_frames)):
            (folder / "crops" / name / f"{k + 1:06d}.jpg").write_bytes(jpeg)


def detect(args, frames: Path, classes: list[str]) -> np.ndarray:
    """The video's detection rows (K, 7), by the detector training's videos had."""
    from iquery.pipeline.detection.backends import load_frame_folder, make_detector
    from iquery.pipeline.detection.rows import empty

    if args.detector == "none":
        return empty()
    detector = make_detector(
        args.detector,
        classes=classes,
        owl_model=args.owl_model,
        threshold=args.owl_threshold,
        batch_size=8,
    )
    return np.asarray(detector(load_frame_folder(frames), None), dtype=np.float32).reshape(-1, 7)


def motion_tokens(args, frames: Path, fps: float) -> np.ndarray:
    """The video's motion tokens (T', C), by the extractor training's videos had."""
    import torch

    from iquery.model.motion import MotionExtractor

    torch.manual_seed(args.seed)  # the random initialisation, when no weights are given
    extractor = MotionExtractor(
        args.motion_backbone,
        args.motion_weights,
        resize_short=args.motion_resize_short,
        dtype="float16",
    )
    tokens = extractor.extract(str(frames), fps, args.motion_max_frames)
    return np.asarray(tokens.tokens, dtype=np.float32)


def progress_bar():
    from tqdm import tqdm

    bar = None

    def update(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, desc="separate", unit="window", file=sys.stderr)
        bar.update(done)
        if bar.n >= total:
            bar.close()

    return update


if __name__ == "__main__":
    main()
