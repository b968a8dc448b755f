"""Faults sorted by their cause, not by their symptom. A program that crashes on one file (and
again when tried once more) is a fact about that file; one killed from outside is the machine's.
ffmpeg's "Input/output error" or "Cannot allocate memory" about a file the operating system
reads through, with memory free, is the file's. An input whose folder is missing (an absent
mount) is the machine's, and the rerun once it is mounted goes through. HTTP 403 is retried as
the network's; 404 is a video that is gone; an empty answer is recorded at once.

Each is injected for real: stand-in ffmpeg and ffprobe programs that crash or report, a folder
that appears, a local HTTP server."""

from __future__ import annotations

import http.server
import shutil
from pathlib import Path

import pytest
import yaml

from iquery.pipeline.core import faults
from iquery.pipeline.core.errors import MediaError
from iquery.pipeline.core.faults import MachineError, classify
from iquery.pipeline.core.records import FAILED, OK
from iquery.pipeline.media.download import obtain_video
from iquery.pipeline.media.ffmpeg import decode_audio, probe
from iquery.pipeline.stages.batches import Step, current_record, run_batch
from tests.conftest import REPO, http_server

FORMAT = yaml.safe_load((REPO / "config.yaml").read_text())["download"]["format"]
FAST = {"format": FORMAT, "backoff_s": 0.01, "socket_timeout_s": 5}


def stand_in(folder: Path, name: str, before: str) -> Path:
    """An executable ``name`` that runs the shell lines ``before``, then the real program."""
    real = shutil.which(name)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(f'#!/bin/sh\n{before}\nexec "{real}" "$@"\n')
    path.chmod(0o755)
    return path


def audio_step(tmp_path: Path, video: Path, executable: str = "ffmpeg") -> Step:
    def work():
        return {"samples": len(decode_audio(video, 11025, executable=executable)[0])}

    vid = video.stem
    return Step("c", vid, tmp_path / "records" / f"{vid}.json", {}, work, ())


def five_videos(media, folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    names = ("one", "two", "crash", "four", "five")
    return [Path(shutil.copy(media["good"], folder / f"{name}.mp4")) for name in names]


def test_an_ffmpeg_that_crashes_on_one_file_records_that_file_and_the_rest_go_on(media, tmp_path):
    crash = 'case "$*" in *crash.mp4*) kill -SEGV $$;; esac'
    crashing = stand_in(tmp_path / "bin", "ffmpeg", crash)
    videos = five_videos(media, tmp_path / "videos")
    steps = [audio_step(tmp_path, v, str(crashing)) for v in videos]
    records = run_batch("audio", steps, tmp_path / "table.json")
    assert [r["status"] for r in records] == [OK, OK, FAILED, OK, OK]
    reason = records[2]["reason"]
    assert "ffmpeg crashed on this file (SIGSEGV), and again when tried once more" in reason
    # Decided where it was met: the rerun keeps the record, it does not read it as a fault.
    assert records[2]["info"] == {"checked": True}
    assert current_record(steps[2])["status"] == FAILED


def test_a_crash_that_does_not_repeat_is_nobody_s_fault(media, tmp_path):
    once = tmp_path / "crashed-once"
    crashing = stand_in(
        tmp_path / "bin", "ffmpeg", f'[ -e "{once}" ] || {{ touch "{once}"; kill -SEGV $$; }}'
    )
    steps = [audio_step(tmp_path, media["good"], str(crashing))]
    records = run_batch("audio", steps, tmp_path / "t")
    assert records[0]["status"] == OK and records[0]["info"]["samples"] > 0


def test_an_ffmpeg_killed_from_outside_stops_the_job(media, tmp_path):
    killed = stand_in(tmp_path / "bin", "ffmpeg", "kill -TERM $$")
    steps = [audio_step(tmp_path, media["good"], str(killed))]
    with pytest.raises(SystemExit, match=r"killed, not a fault of the video: ffmpeg killed by "
                       r"signal 15 \(SIGTERM\) from outside"):  # fmt: skip
        run_batch("audio", steps, tmp_path / "table.json")
    assert not (tmp_path / "records").exists()


@pytest.mark.parametrize(
    "signal, error, said",
    [("KILL", MachineError, "ffprobe killed by signal 9"), ("SEGV", MediaError, "crashed")],
)
def test_ffprobe_killed_or_crashing(media, tmp_path, monkeypatch, signal, error, said):
    folder = tmp_path / "bin"
    stand_in(folder, "ffprobe", f"kill -{signal} $$")
    monkeypatch.setenv("PATH", f"{folder}:{__import__('os').environ['PATH']}")
    with pytest.raises(error, match=said) as caught:
        probe(media["good"])
    assert "cannot read container" not in str(caught.value)
    assert (classify(caught.value) is not None) == (error is MachineError)


@pytest.mark.parametrize("report", ["Input/output error", "Cannot allocate memory"])
def test_ffmpeg_s_words_about_a_readable_file_are_the_file_s(media, tmp_path, report):
    reporting = stand_in(tmp_path / "bin", "ffmpeg", f'echo "video.mp4: {report}" >&2; exit 1')
    steps = [audio_step(tmp_path, media["good"], str(reporting))]
    records = run_batch("audio", steps, tmp_path / "t")
    assert records[0]["status"] == FAILED and report in records[0]["reason"]
    assert current_record(audio_step(tmp_path, media["good"]))["status"] == FAILED  # kept


def test_cannot_allocate_memory_with_little_free_is_the_machine_s(media, tmp_path, monkeypatch):
    reporting = stand_in(tmp_path / "bin", "ffmpeg", 'echo "Cannot allocate memory" >&2; exit 1')
    monkeypatch.setattr(faults, "free_memory", lambda: 100 << 20)
    with pytest.raises(SystemExit, match="out of memory or file handles, not a fault of the video"):
        run_batch("audio", [audio_step(tmp_path, media["good"], str(reporting))], tmp_path / "t")
    assert not (tmp_path / "records").exists()


@pytest.mark.parametrize("absent", ["folder", "empty folder"])
def test_an_input_on_a_missing_mount_stops_the_job_and_goes_through_once_mounted(
    media, tmp_path, absent
):
    mount = tmp_path / "mnt" / "videos"
    if absent == "empty folder":
        mount.mkdir(parents=True)
    video = mount / "good.mp4"
    with pytest.raises(SystemExit, match="input not mounted, not a fault of the video: .*mounted"):
        run_batch("audio", [audio_step(tmp_path, video)], tmp_path / "table.json")
    assert not (tmp_path / "records").exists()
    mount.mkdir(parents=True, exist_ok=True)
    shutil.copy(media["good"], video)
    records = run_batch("audio", [audio_step(tmp_path, video)], tmp_path / "table.json")
    assert records[0]["status"] == OK


def test_a_file_missing_beside_others_is_a_fact(media, tmp_path):
    folder = tmp_path / "videos"
    folder.mkdir()
    shutil.copy(media["good"], folder / "other.mp4")
    records = run_batch("audio", [audio_step(tmp_path, folder / "gone.mp4")], tmp_path / "t")
    assert records[0]["status"] == FAILED and records[0]["reason"].startswith("file missing")


def test_a_file_url_on_a_missing_mount_is_the_machine_s(tmp_path):
    url = (tmp_path / "mnt" / "videos" / "good.mp4").as_uri()
    with pytest.raises(MachineError, match="is its disk mounted"):
        obtain_video(url, tmp_path / "data" / "x.mp4", attempts=1, **FAST)


class Refusing(http.server.SimpleHTTPRequestHandler):
    """Answers 403 to the first ``refusals`` requests, then serves; counts requests."""

    refusals = 2
    requests = 0

    def do_GET(self):  # noqa: N802 (http.server's name)
        type(self).requests += 1
        if type(self).requests <= type(self).refusals:
            self.send_error(403)
            return
        super().do_GET()

    def log_message(self, *args):
        pass


@pytest.fixture
def refusing(media, tmp_path):
    (tmp_path / "served").mkdir()
    shutil.copy(media["good"], tmp_path / "served" / "good.mp4")
    (tmp_path / "served" / "empty.mp4").write_bytes(b"")

    def handler(*args, **kwargs):
        return Refusing(*args, directory=str(tmp_path / "served"), **kwargs)

    Refusing.refusals, Refusing.requests = 2, 0
    with http_server(handler) as url:
        yield url


def test_403_twice_then_served_is_downloaded_on_the_third_try(refusing, media, tmp_path):
    video = tmp_path / "v" / "good.mp4"
    info = obtain_video(f"{refusing}/good.mp4", video, attempts=3, **FAST)
    assert info["attempts"] == 3
    assert video.read_bytes() == media["good"].read_bytes()


def test_403_until_the_tries_run_out_is_the_network_s(refusing, tmp_path):
    video = tmp_path / "v" / "x.mp4"

    def work():
        return obtain_video(f"{refusing}/good.mp4", video, attempts=2, **FAST)

    step = Step("c", "x", tmp_path / "records" / "x.json", {}, work, (video,))
    with pytest.raises(SystemExit, match=r"c/x: refused \(HTTP 401/403\)"):
        run_batch("download", [step], tmp_path / "table.json")
    assert not (tmp_path / "records").exists() and Refusing.requests == 2


@pytest.mark.parametrize(
    "name, said", [("empty.mp4", "empty: the server sent no data"), ("gone.mp4", "HTTP Error 404")]
)
def test_an_empty_answer_or_a_404_is_recorded_at_once(refusing, tmp_path, caplog, name, said):
    Refusing.refusals = 0
    with caplog.at_level("WARNING", logger="download"), pytest.raises(MediaError, match=said) as e:
        obtain_video(f"{refusing}/{name}", tmp_path / "v" / "x.mp4", attempts=3, **FAST)
    assert classify(e.value) is None and e.value.checked
    assert not [r for r in caplog.records if "attempt" in r.getMessage()]  # not tried again


def test_yt_dlp_s_blank_lines_stay_out_of_the_log(refusing, tmp_path, caplog):
    Refusing.refusals = 0
    with caplog.at_level("DEBUG", logger="download"), pytest.raises(MediaError):
        obtain_video(f"{refusing}/empty.mp4", tmp_path / "v" / "x.mp4", attempts=1, **FAST)
    said = [r.getMessage() for r in caplog.records if r.name == "download"]
    assert said and all(m.strip() and not m.startswith("ERROR") for m in said), said
