"""Audio and frame extraction throughput against one plain ffmpeg decode of the same files.

    python bench/bench_extract.py [--videos N] [--seconds S] [--size WxH] [--from-dir DIR]

The plain decode (`ffmpeg -i file -f null -`, every stream decoded, nothing written) is the
floor any extraction pays; the ratio says what our stages add on top (resampling, the fps
filter, JPEG encoding, Python start-up of the stage command). Figures are printed, not checked.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from iquery.pipeline.core.files import write_tsv  # noqa: E402
from iquery.pipeline.media.ffmpeg import make_frames, make_wav, probe  # noqa: E402


def make_videos(folder: Path, count: int, seconds: float, size: str) -> list[Path]:
    paths = []
    for i in range(count):
        path = folder / f"v{i:02d}.mp4"
        subprocess.run(
            [
                "ffmpeg",
                "-nostdin",
                "-v",
                "error",
                "-y",
                "-f",
                "lavfi",
                "-i",
                f"testsrc2=duration={seconds}:size={size}:rate=30",
                "-f",
                "lavfi",
                "-i",
                f"sine=frequency={220 + 20 * i}:sample_rate=44100:duration={seconds}",
                "-c:v",
                "libx264",
                "-preset",
                "veryfast",
                "-pix_fmt",
                "yuv420p",
                "-c:a",
                "aac",
                "-ac",
                "2",
                "-movflags",
                "+faststart",
                str(path),
            ],
            check=True,
        )
        paths.append(path)
    return paths


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def cli(module: str, *args: str) -> None:
    subprocess.run([sys.executable, "-m", module, *args], check=True, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--size", default="640x360")
    parser.add_argument("--from-dir", type=Path, help="use the .mp4 files here instead")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if args.from_dir:
            videos = sorted(args.from_dir.rglob("*.mp4"))
        else:
            videos = make_videos(tmp, args.videos, args.seconds, args.size)
        media_seconds = sum(probe(v).duration for v in videos)

        def plain():
            for v in videos:
                subprocess.run(
                    ["ffmpeg", "-nostdin", "-v", "error", "-i", str(v), "-f", "null", "-"],
                    check=True,
                )

        def audio():
            for v in videos:
                make_wav(v, tmp / "a.wav", rate=11025, min_seconds=0)

        def frames():
            for v in videos:
                make_frames(v, tmp / "f", fps=1, min_frames=1)

        # What the workflow runs: one process per stage and chunk (here one chunk of all the
        # videos), through the stage command, records and all. The download is done once, first.
        data = tmp / "data"
        table = data / "bench" / "videos.tsv"
        rows = [
            {"class": "c", "vid": v.stem, "url": v.resolve().as_uri(), "label": "c"}
            | {"start": "", "end": "", "problem": ""}
            for v in videos
        ]
        write_tsv(table, ["class", "vid", "url", "label", "start", "end", "problem"], rows)
        settings = {
            "download": {"chunks": 1, "format": "b", "attempts": 1, "backoff_s": 1}
            | {"socket_timeout_s": 10, "cookies": None},
            "audio": {"chunks": 1, "min_seconds": 0, "audio_rate": 11025}
            | {"clip_samples": 1, "trim_to_segment": False},
            "frames": {"chunks": 1, "min_frames": 1, "max_side": None, "frame_rate": 1}
            | {"trim_to_segment": False, "detector": "background"}
            | {"detections_class_offset": None, "classes": ["c"], "motion": None},
        }

        def stage(name: str, upstream: str | None = None) -> None:
            cli(
                "iquery.cli.stage",
                name,
                f"--data={data}",
                "--dataset=bench",
                "--chunk=0",
                f"--settings={json.dumps(settings[name])}",
                f"--videos={table}",
                f"--table={data}/bench/records/{name}-000.json",
                *([f"--upstream={data}/bench/records/{upstream}-000.json"] if upstream else []),
            )

        stage("download")

        def stages_as_run():
            shutil.rmtree(data / "bench" / "records" / "audio", ignore_errors=True)
            shutil.rmtree(data / "bench" / "records" / "frames", ignore_errors=True)
            stage("audio", "download")
            stage("frames", "download")

        cases = {
            "plain ffmpeg decode (floor)": plain,
            "audio -> 11025 Hz WAV": audio,
            "frames -> 1 fps JPEG": frames,
            "both, as the workflow runs them": stages_as_run,
        }
        results = {}
        for name, fn in cases.items():
            results[name] = statistics.median(timed(fn) for _ in range(args.repeats))

    floor = results["plain ffmpeg decode (floor)"]
    print(
        f"{len(videos)} videos, {media_seconds:.0f} s of media "
        f"({args.from_dir or args.size}), "
        f"median of {args.repeats} runs"
    )
    print(f"{'case':<34} {'wall s':>8} {'media s / wall s':>17} {'x plain decode':>15}")
    for name, seconds in results.items():
        print(f"{name:<34} {seconds:8.2f} {media_seconds / seconds:17.1f} {seconds / floor:15.2f}")


if __name__ == "__main__":
    main()
