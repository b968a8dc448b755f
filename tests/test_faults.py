"""A fault of the machine or the network is never a fact about a video: the job fails, nothing is
recorded about the video, and a rerun once the fault is gone gives what a clean run gives.

Faults are injected for real where the machine allows: a full tmpfs, a read-only mount, a local
HTTP server answering 429, then 503, then dropping the connection, a name that does not
resolve, an ffmpeg killed by SIGKILL."""

from __future__ import annotations

import hashlib
import http.server
import json
import subprocess
from pathlib import Path

import pytest
import yaml

from iquery.pipeline.core.errors import MediaError
from iquery.pipeline.core.faults import FAULTS, MachineError, classify
from iquery.pipeline.core.records import FAILED, OK, write_record
from iquery.pipeline.media.download import obtain_video
from iquery.pipeline.media.ffmpeg import decode_audio, make_frames
from iquery.pipeline.stages.batches import Step, current_record, read_table, run_batch
from tests.conftest import REPO, http_server

FORMAT = yaml.safe_load((REPO / "config.yaml").read_text())["download"]["format"]

# Real messages, as yt-dlp, ffmpeg and Python gave them, and what each is.
MESSAGES = {
    "cannot decode video: av_interleaved_write_frame(): No space left on device": "disk full",
    "[Errno 28] No space left on device: 'data/x/frames/a.mp4/000001.jpg'": "disk full",
    "[Errno 13] Permission denied: 'data/demo/audio/cello'": "permission denied",
    "[Errno 30] Read-only file system: 'data/demo/audio'": "permission denied",
    "[Errno 5] Input/output error": "I/O error",
    "[Errno 24] Too many open files": "out of memory or file handles",
    "[Errno 2] No such file or directory: 'ffmpeg'": "missing program",
    "ffmpeg killed by signal 9": "killed",
    "ffmpeg killed by signal 15 (SIGTERM) from outside": "killed",
    "/data/mnt/videos/good.mp4: its folder /data/mnt/videos is missing or empty; is its disk "
    "mounted?": "input not mounted",
    "[generic] x: Unable to download webpage: HTTPConnection(host='www.youtube.com', port=443): "
    "Failed to resolve 'www.youtube.com' ([Errno -3] Temporary failure in name resolution)": (
        "DNS failure"
    ),
    "[youtube] abc: Unable to download API page: The read operation timed out": "network failure",
    "[generic] x: Unable to download webpage: HTTP Error 429: Too Many Requests": (
        "rate limited (HTTP 429)"
    ),
    "unable to download video data: HTTP Error 503: Service Unavailable": (
        "server error (HTTP 5xx)"
    ),
    "[youtube] abc: Sign in to confirm you're not a bot. Use --cookies-from-browser": "bot check",
    "refused (HTTP 403): [generic] good: Unable to download webpage: HTTP Error 403: Forbidden "
    "(caused by <HTTPError 403: Forbidden>)": "refused (HTTP 401/403)",
    "[Errno 11] Resource temporarily unavailable": "network failure",
    # Facts about the video: recorded, and the run goes on.
    "unavailable: [youtube] abc: Video unavailable. This video is private": None,
    "unavailable: [youtube] abc: Sign in to confirm your age": None,
    "no audio track": None,
    "cannot decode video: Invalid data found when processing input": None,
    "silent: the audio track holds only zeros": None,
    "too short: 2.0 s of audio, 3.0 s needed": None,
    "ffmpeg crashed on this file (SIGSEGV), and again when tried once more": None,
    "empty: the server sent no data (Did not get any data blocks)": None,
}


@pytest.mark.parametrize("message", sorted(MESSAGES))
def test_each_message_is_classified_by_what_it_says(message):
    fault = classify(message)
    assert (fault.kind if fault else None) == MESSAGES[message]


def test_every_kind_has_a_real_message_here_and_a_row_in_the_docs():
    readme = (REPO / "docs" / "failures.md").read_text()
    for fault in FAULTS:
        assert fault.kind in MESSAGES.values(), fault.kind
        assert f"| {fault.kind} |" in readme, fault.kind


def step(tmp_path: Path, vid: str, work) -> Step:
    out = tmp_path / "out" / f"{vid}.txt"
    return Step("c", vid, tmp_path / "records" / f"{vid}.json", {}, work, (out,))


def writer(tmp_path: Path, vid: str):
    def work():
        out = tmp_path / "out" / f"{vid}.txt"
        out.parent.mkdir(exist_ok=True)
        out.write_text(vid)
        return {}

    return work


def raising(message: str):
    def work():
        raise MediaError(message)

    return work


def test_a_full_disk_stops_the_job_and_records_nothing(tmp_path):
    steps = [
        step(tmp_path, "a", writer(tmp_path, "a")),
        step(tmp_path, "b", raising("cannot decode video: No space left on device")),
        step(tmp_path, "c", writer(tmp_path, "c")),
    ]
    with pytest.raises(SystemExit, match="c/b: disk full, not a fault of the video"):
        run_batch("frames", steps, tmp_path / "table.json")
    assert not (tmp_path / "records" / "b.json").exists()
    assert not (tmp_path / "table.json").exists()
    assert not (tmp_path / "out" / "c.txt").exists()  # stopped at once


def test_network_faults_leave_the_video_unrecorded_and_name_it(tmp_path):
    steps = [
        step(tmp_path, "a", writer(tmp_path, "a")),
        step(tmp_path, "b", raising("download failed after 3 attempts: HTTP Error 429")),
        step(tmp_path, "c", writer(tmp_path, "c")),
    ]
    with pytest.raises(SystemExit, match=r"1 videos could not be reached.*\n  c/b: rate limited"):
        run_batch("download", steps, tmp_path / "table.json")
    assert not (tmp_path / "records" / "b.json").exists()
    assert (tmp_path / "records" / "c.json").exists()  # the others were tried
    # The network is back: only b is tried, and the table is the clean run's.
    steps[1] = step(tmp_path, "b", writer(tmp_path, "b"))
    records = run_batch("download", steps, tmp_path / "table.json")
    assert [r["status"] for r in records] == [OK, OK, OK]


def test_a_network_that_is_down_stops_after_a_few_videos(tmp_path):
    dns = "Failed to resolve 'www.youtube.com' ([Errno -2] Name or service not known)"
    steps = [step(tmp_path, str(i), raising(dns)) for i in range(10)]
    with pytest.raises(SystemExit, match="and 7 videos not tried: the network looks down"):
        run_batch("download", steps, tmp_path / "table.json")
    assert not (tmp_path / "records").exists()


def test_records_an_earlier_version_wrote_for_a_fault_are_redone(tmp_path):
    for vid, reason in (("gone", "unavailable: Video unavailable"), ("dns", "Failed to resolve")):
        write_record(
            tmp_path / "records" / f"{vid}.json", stage="download", cls="c", vid=vid,
            status=FAILED, reason=f"download failed after 3 attempts: {reason}",
        )  # fmt: skip
    assert current_record(step(tmp_path, "gone", None))["status"] == FAILED  # a fact: kept
    assert current_record(step(tmp_path, "dns", None)) is None  # a fault: tried again


class Flaky(http.server.SimpleHTTPRequestHandler):
    """Answers 429, then 503, then drops the connection, then serves the file."""

    faults = ["429", "503", "drop"]

    def do_GET(self):  # noqa: N802 (http.server's name)
        if self.faults:
            fault = self.faults.pop(0)
            if fault == "drop":
                self.close_connection = True
                self.connection.close()
                return
            self.send_error(int(fault))
            return
        super().do_GET()

    def log_message(self, *args):
        pass


@pytest.fixture
def flaky(media):
    def handler(*args, **kwargs):
        return Flaky(*args, directory=str(media["good"].parent), **kwargs)

    Flaky.faults = ["429", "503", "drop"]
    with http_server(handler) as url:
        yield url


def test_429_503_and_a_dropped_connection_are_retried(flaky, media, tmp_path):
    video = tmp_path / "v" / "good.mp4"
    options = {"format": FORMAT, "backoff_s": 0.01, "socket_timeout_s": 5}
    info = obtain_video(f"{flaky}/good.mp4", video, attempts=4, **options)
    assert info["attempts"] == 4
    assert video.read_bytes() == media["good"].read_bytes()


def test_retries_run_out_and_the_job_names_the_video(flaky, tmp_path):
    options = {"format": FORMAT, "backoff_s": 0.01, "socket_timeout_s": 5, "attempts": 2}
    video = tmp_path / "v" / "x.mp4"

    def work():
        return obtain_video(f"{flaky}/good.mp4", video, **options)

    with pytest.raises(SystemExit, match=r"c/x: server error \(HTTP 5xx\)"):
        run_batch("download", [step(tmp_path, "x", work)], tmp_path / "table.json")
    assert not (tmp_path / "records").exists() and not video.exists()
    assert [p.name for p in video.parent.iterdir()] == []  # no temp files left


def test_a_name_that_does_not_resolve_is_the_network(tmp_path):
    video = tmp_path / "v" / "x.mp4"
    options = {"format": FORMAT, "backoff_s": 0.01, "socket_timeout_s": 5, "attempts": 1}
    with pytest.raises(MachineError) as err:
        obtain_video("http://video.invalid/x.mp4", video, **options)
    assert classify(err.value).network


def sha(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.fixture
def small_disk(tmp_path):
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)])
    if done.returncode:
        pytest.skip("mounting a tmpfs was refused (the fault tests need root)")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def frames_step(media, folder: Path, records: Path) -> Step:
    def work():
        return make_frames(media["good"], folder, fps=4, min_frames=1)

    return Step("c", "good", records / "good.json", {}, work, (folder,))


def test_disk_full_then_fixed_gives_the_clean_frames(media, small_disk, tmp_path):
    clean = tmp_path / "clean"
    make_frames(media["good"], clean, fps=4, min_frames=1)
    folder, records = small_disk / "frames", tmp_path / "records"
    with pytest.raises(SystemExit, match="c/good: disk full"):
        run_batch("frames", [frames_step(media, folder, records)], tmp_path / "t.json")
    assert not records.exists() and not folder.exists()
    assert [p.name for p in small_disk.iterdir()] == []  # nothing half-written
    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
    run_batch("frames", [frames_step(media, folder, records)], tmp_path / "t.json")
    assert sha(folder) == sha(clean)
    assert read_table(tmp_path / "t.json")[0]["status"] == OK


def test_a_read_only_data_folder_stops_the_job(media, small_disk, tmp_path):
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    records = small_disk / "records"
    with pytest.raises(SystemExit, match="permission denied, not a fault of the video"):
        run_batch("frames", [frames_step(media, small_disk / "f", records)], tmp_path / "t.json")
    assert not records.exists()


def test_a_killed_ffmpeg_is_not_the_video(media, tmp_path):
    killer = tmp_path / "ffmpeg"
    killer.write_text("#!/bin/sh\nkill -9 $$\n")
    killer.chmod(0o755)

    def work():
        return {"n": len(decode_audio(media["good"], 11025, executable=str(killer))[0])}

    with pytest.raises(SystemExit, match="killed by signal 9"):
        run_batch("audio", [step(tmp_path, "k", work)], tmp_path / "t.json")
    assert not (tmp_path / "records").exists()


def test_a_run_on_a_full_disk_fails_and_its_rerun_equals_a_clean_run(media, small_disk, tmp_path):
    """The issue's case: a user's index of good videos, the data folder on a disk too small.
    The run fails at whichever stage fills it, records no video as left out, and once the disk
    is enlarged the rerun's manifest and sound equal those of a clean run elsewhere."""
    from tests.test_workflow import overlay, own_dataset, snakemake

    names = ("good", "portrait", "surround")
    index = {"videos": {"violin": [media[n].as_uri() for n in names]}}
    (tmp_path / "mine.json").write_text(json.dumps(index))
    settings = {
        "datasets": {"mine": own_dataset(tmp_path / "mine.json")},
        "download": {"attempts": 1, "backoff_s": 0, "chunks": 1},
        "audio": {"chunks": 1},
        "frames": {"chunks": 1},
    }
    clean_dir, full_dir = tmp_path / "clean", tmp_path / "full"
    clean_dir.mkdir()
    full_dir.mkdir()
    target = "{}/mine/manifest.tsv"
    clean = overlay(clean_dir, settings | {"paths": {"data": str(clean_dir / "data")}})
    snakemake(clean_dir, target.format(clean_dir / "data"), configs=[clean])
    full = overlay(full_dir, settings | {"paths": {"data": str(small_disk)}})
    failed = snakemake(full_dir, target.format(small_disk), configs=[full], check=False)
    assert failed.returncode != 0
    logs = "".join(p.read_text() for p in (small_disk / "mine" / "logs").glob("*.log"))
    assert "disk full, not a fault of the video" in logs + failed.stderr
    records = list((small_disk / "mine" / "records").glob("*/*/*.json"))
    assert not any("space" in p.read_text() for p in records)  # nothing recorded as the video's
    assert not (small_disk / "mine" / "excluded.tsv").exists()
    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
    snakemake(full_dir, target.format(small_disk), configs=[full])
    for name in ("manifest.tsv", "excluded.tsv"):
        assert (small_disk / "mine" / name).read_text() == (
            clean_dir / "data" / "mine" / name
        ).read_text().replace(str(clean_dir / "data"), str(small_disk))
    assert sha(small_disk / "mine" / "audio" / "violin") == sha(
        clean_dir / "data" / "mine" / "audio" / "violin"
    )


def test_a_run_against_a_flaky_server_fails_then_its_rerun_downloads(flaky, media, tmp_path):
    """Through the workflow: 429 and 503 use up the first run's two tries, which fails naming
    the video and records nothing about it; the next run gets the dropped connection, then the
    file, and the video is downloaded as if nothing had happened."""
    from tests.test_workflow import overlay, own_dataset, snakemake

    index = {"videos": {"violin": [f"{flaky}/good.mp4"]}}
    (tmp_path / "mine.json").write_text(json.dumps(index))
    config = overlay(
        tmp_path,
        {
            "paths": {"data": "data"},
            "datasets": {"mine": own_dataset(tmp_path / "mine.json")},
            "download": {"attempts": 2, "backoff_s": 0, "chunks": 1},
            "audio": {"chunks": 1},
            "frames": {"chunks": 1},
        },
    )
    target = "data/mine/manifest.tsv"
    failed = snakemake(tmp_path, target, configs=[config], check=False)
    assert failed.returncode != 0
    log = "".join(p.read_text() for p in (tmp_path / "data/mine/logs").glob("download*.log"))
    assert "1 videos could not be reached" in log and "violin/good: server error" in log
    assert not list((tmp_path / "data/mine/records").glob("download/*/*.json"))
    snakemake(tmp_path, target, configs=[config])
    video = tmp_path / "data/mine/videos/violin/good.mp4"
    assert video.read_bytes() == media["good"].read_bytes()
    assert "good" in (tmp_path / target).read_text()
