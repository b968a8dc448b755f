"""yt-dlp against local files and a bounded server on 127.0.0.1 (no network needed)."""

import functools
import http.server

import pytest
import yaml

from iquery.pipeline.core.errors import MediaError
from iquery.pipeline.media.download import obtain_video
from tests.conftest import REPO, http_server


@pytest.fixture
def server(media):
    """Serve the media folder on 127.0.0.1; stopped when the test ends."""
    handler = functools.partial(
        http.server.SimpleHTTPRequestHandler, directory=str(media["good"].parent)
    )
    handler.log_message = lambda *args: None
    with http_server(handler) as url:
        yield url


FORMAT = yaml.safe_load((REPO / "config.yaml").read_text())["download"]["format"]
FAST = {"format": FORMAT, "attempts": 2, "backoff_s": 0.01, "socket_timeout_s": 5}


def test_file_url(media, tmp_path):
    video = tmp_path / "v" / "good.mp4"
    info = obtain_video(media["good"].as_uri(), video, **FAST)
    assert video.read_bytes() == media["good"].read_bytes()
    assert info["has_audio"] and abs(info["duration"] - 8) < 0.1
    assert info["source"] == "downloaded"
    assert obtain_video(media["good"].as_uri(), video, **FAST)["source"] == "on disk"


def test_http_server(server, media, tmp_path):
    video = tmp_path / "good.mp4"
    assert obtain_video(f"{server}/good.mp4", video, **FAST)["source"] == "downloaded"
    assert video.stat().st_size == media["good"].stat().st_size


@pytest.mark.parametrize(
    "path, reason",
    [("/missing.mp4", "HTTP Error 404"), ("/not_video.mp4", "cannot read container")],
)
def test_unavailable_raises_media_error(server, tmp_path, path, reason):
    video = tmp_path / "x.mp4"
    with pytest.raises(MediaError, match=reason):
        obtain_video(f"{server}{path}", video, **FAST)
    assert not video.exists()
    assert list(tmp_path.iterdir()) == []  # no temp files left


def test_missing_local_file(tmp_path):
    (tmp_path / "other.mp4").write_bytes(b"x")  # its folder is there: the file is missing
    with pytest.raises(MediaError, match="file missing"):
        obtain_video((tmp_path / "nothing.mp4").as_uri(), tmp_path / "x.mp4", **FAST)


def test_offline_fetches_nothing(server, tmp_path):
    with pytest.raises(MediaError, match="missing: offline, and not on disk"):
        obtain_video(f"{server}/good.mp4", tmp_path / "x.mp4", offline=True, **FAST)
    assert list(tmp_path.iterdir()) == []


def test_refuses_unsafe_url(tmp_path):
    from iquery.pipeline.core.errors import InvalidEntry

    with pytest.raises(InvalidEntry):
        obtain_video("x; touch pwned", tmp_path / "x.mp4")
    assert list(tmp_path.iterdir()) == []
