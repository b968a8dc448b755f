import pytest

from iquery.pipeline.core.errors import InvalidEntry
from iquery.pipeline.core.ids import check_vid, class_dir, parse_entry


def test_youtube_id_becomes_watch_url():
    assert parse_entry("-Gdh8N_KpLY") == (
        "-Gdh8N_KpLY",
        "https://www.youtube.com/watch?v=-Gdh8N_KpLY",
    )


@pytest.mark.parametrize(
    "url, vid",
    [
        ("https://www.youtube.com/watch?v=iB17xqmFw3A", "iB17xqmFw3A"),
        ("file:///data/demo/source/cello/cello-03.mp4", "cello-03"),
        ("http://127.0.0.1:8000/clip%20one.mp4", None),  # unsafe stem: hashed
    ],
)
def test_urls(url, vid):
    got_vid, got_url = parse_entry(url)
    assert got_url == url
    assert check_vid(got_vid) == got_vid
    if vid:
        assert got_vid == vid


def test_url_ids_do_not_collide():
    a, _ = parse_entry("http://127.0.0.1/a%20b.mp4")
    b, _ = parse_entry("http://127.0.0.1/a_b%21.mp4")
    assert a != b


@pytest.mark.parametrize(
    "entry",
    [
        "abc; rm -rf ~",
        "$(touch pwned)",
        "`id`",
        "../../etc/passwd",
        "file:///data/../../etc/passwd",
        "/etc/passwd",
        "short",
        "iB17xqmFw3A && ls",
        "ftp://example.org/x.mp4",
        "https://host/a b.mp4",
        "",
        None,
        42,
    ],
)
def test_untrusted_entries_are_refused(entry):
    with pytest.raises(InvalidEntry, match="my.json"):
        parse_entry(entry, "my.json")


@pytest.mark.parametrize("vid", ["a;b", "../x", "a b", "", "x" * 81, "a/b"])
def test_unsafe_vids_are_refused(vid):
    with pytest.raises(InvalidEntry):
        check_vid(vid)


def test_class_labels():
    assert class_dir("acoustic_guitar violin") == "acoustic_guitar_violin"
    assert class_dir(" flute ") == "flute"
    for bad in ["../x", "a/b", "x;y", "", "   ", "$(id)"]:
        with pytest.raises(InvalidEntry, match="index"):
            class_dir(bad)
