"""yt-dlp against local files and a bounded server on 127.0.0.1 (no network needed)."""

import functools
import http.server
import threading

import pytest
import yaml

from pipeline.records import FAILED, OK, read_record
from pipeline.video_download import download_video
from tests.conftest import REPO


@pytest.fixture
def server(media):
    """Serve the media folder on 127.0.0.1; stopped when the test ends."""
    handler = functools.partial(
        http.server.SimpleHTTPRequestHandler, directory=str(media["good"].parent)
    )
    handler.log_message = lambda *args: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.timeout = 5
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1})
    thread.daemon = True
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


FORMAT = yaml.safe_load((REPO / "config.yaml").read_text())["download"]["format"]
FAST = {"fmt": FORMAT, "attempts": 2, "backoff_s": 0.01, "socket_timeout": 5}


def test_file_url(media, tmp_path):
    video, record = tmp_path / "v" / "good.mp4", tmp_path / "r.json"
    rec = download_video(media["good"].as_uri(), video, record, cls="flute", vid="good", **FAST)
    assert rec["status"] == OK, rec
    assert video.read_bytes() == media["good"].read_bytes()
    assert rec["info"]["has_audio"] and abs(rec["info"]["duration"] - 8) < 0.1
    assert read_record(record) == rec


def test_http_server(server, media, tmp_path):
    video = tmp_path / "good.mp4"
    rec = download_video(f"{server}/good.mp4", video, tmp_path / "r.json", cls="c", vid="v", **FAST)
    assert rec["status"] == OK, rec
    assert video.stat().st_size == media["good"].stat().st_size


@pytest.mark.parametrize("path, reason", [("/missing.mp4", "404"), ("/not_video.mp4", "")])
def test_unavailable_is_recorded_not_raised(server, tmp_path, path, reason):
    video = tmp_path / "x.mp4"
    rec = download_video(f"{server}{path}", video, tmp_path / "r.json", cls="c", vid="x", **FAST)
    assert rec["status"] == FAILED and reason in rec["reason"]
    assert not video.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]  # no temp files left


def test_missing_local_file(tmp_path):
    url = (tmp_path / "nothing.mp4").as_uri()
    rec = download_video(url, tmp_path / "x.mp4", tmp_path / "r.json", cls="c", vid="x", **FAST)
    assert rec["status"] == FAILED and rec["reason"]


def test_refuses_unsafe_url(tmp_path):
    from pipeline.errors import InvalidEntry

    with pytest.raises(InvalidEntry):
        download_video("x; touch pwned", tmp_path / "x.mp4", tmp_path / "r.json", cls="c", vid="x")
    assert not (tmp_path / "r.json").exists()
