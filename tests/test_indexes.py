import json

import pytest

from iquery.pipeline.core.errors import ConfigError, IndexFormatError
from iquery.pipeline.datasets.indexes import (
    read_ave_annotations,
    read_pairs_csv,
    read_split_csv,
    read_video_json,
)
from iquery.pipeline.datasets.sources import load_dataset


def local_config(lists, tmp_path):
    """The workflow's config with every index pointed at the cut-down copies in ``lists``."""
    import yaml

    from tests.conftest import REPO

    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["paths"] = {"data": str(tmp_path / "data"), "results": str(tmp_path / "results")}
    splits = lists / "splits"
    for name, folder, suffix, js in (
        ("music", "MUSIC", "music", "MUSIC_solo_videos.json"),
        ("music21", "MUSIC_21", "music21", "MUSIC21_solo_videos.json"),
    ):
        config["datasets"][name]["index"] = {"videos": str(lists / "music_dataset" / js)}
        config["datasets"][name]["splits"] = {
            "train": str(splits / folder / f"train{suffix}.csv"),
            "test": str(splits / folder / f"test{suffix}.csv"),
            "pairs": str(splits / folder / f"testsep{suffix}.csv"),
        }
    config["datasets"]["ave"]["index"] = {"annotations": str(lists / "ave" / "Annotations.txt")}
    config["datasets"]["ave"]["splits"] = {
        "train": str(splits / "AVE" / "trainave.csv"),
        "test": str(splits / "AVE" / "testave.csv"),
        "pairs": str(splits / "AVE" / "testsepave.csv"),
    }
    return config


def test_music_json(index_lists):
    videos = read_video_json(index_lists / "music_dataset" / "MUSIC_solo_videos.json")
    assert len(videos) == 51
    assert len({v.cls for v in videos}) == 11
    assert all(v.url.startswith("https://www.youtube.com/watch?v=") for v in videos)
    music21 = read_video_json(index_lists / "music_dataset" / "MUSIC21_solo_videos.json")
    assert len(music21) == 88 and len({v.cls for v in music21}) == 21


def test_split_lists(index_lists):
    folder = index_lists / "splits" / "MUSIC"
    assert len(read_split_csv(folder / "trainmusic.csv")) == 24
    test = read_split_csv(folder / "testmusic.csv")
    pairs = read_pairs_csv(folder / "testsepmusic.csv")
    assert len(test) == 17 and len(pairs) == 12
    # The published pairs file puts a space after its comma: both videos are read.
    assert pairs[0] == (("flute", "kbTy_5o6AB4"), ("cello", "-Gdh8N_KpLY"))
    assert all(a[0] != b[0] for a, b in pairs)
    assert {v for p in pairs for v in p} <= set(test)


def test_ave_annotations(index_lists):
    videos = read_ave_annotations(index_lists / "ave" / "Annotations.txt")
    assert len(videos) == 135 and len({v.cls for v in videos}) == 28
    assert all(v.segment is not None for v in videos)
    bad = [v for v in videos if v.problem]
    # One row of the real file has an empty segment (0..0): kept, marked, later left out.
    assert [v.vid for v in bad] == ["VWi2ENBuTbw"]
    assert "line 27" in bad[0].problem


def test_load_real_datasets(index_lists, tmp_path):
    """A dataset is its index's videos that a split names (the JSON lists one more per class)."""
    config = local_config(index_lists, tmp_path)
    music = load_dataset("music", config)
    assert len(music.videos) == 40 and music.classes[0] == "accordion"
    assert len(music.pairs) == 12
    music21 = load_dataset("music21", config)
    assert len(music21.videos) == 67 and music21.classes[11] == "bagpipe"
    ave = load_dataset("ave", config)
    assert len(ave.videos) == 83 and len(ave.classes) == 28


def test_labels_with_spaces(tmp_path):
    path = tmp_path / "duet.json"
    path.write_text(json.dumps({"videos": {"acoustic_guitar violin": ["iB17xqmFw3A"]}}))
    (video,) = read_video_json(path)
    assert (video.cls, video.label) == ("acoustic_guitar_violin", "acoustic_guitar violin")


@pytest.mark.parametrize(
    "content, message",
    [
        ("not json", "not valid JSON"),
        ('{"clips": {}}', '"videos" key'),
        ('{"videos": {"flute": "iB17xqmFw3A"}}', "must be a list"),
        ('{"videos": {"../flute": ["iB17xqmFw3A"]}}', "folder name"),
        ('{"videos": {"$(touch x)": ["iB17xqmFw3A"]}}', "folder name"),
        ('{"videos": {}}', "no videos"),
    ],
)
def test_bad_json_index(tmp_path, content, message):
    path = tmp_path / "index.json"
    path.write_text(content)
    with pytest.raises(IndexFormatError, match=message) as err:
        read_video_json(path)
    assert str(path) in str(err.value)


def test_bad_entries_are_left_out_one_by_one(tmp_path):
    """An unusable entry, or a video listed under two labels, is kept with its problem (the
    download stage records it as left out); the index's other videos go on."""
    path = tmp_path / "index.json"
    index = {
        "videos": {
            "flute": ["iB17xqmFw3A; rm -rf /", "kbTy_5o6AB4", "-Gdh8N_KpLY"],
            "violin": ["kbTy_5o6AB4", "D6YQ6WwWZrk"],
        }
    }
    path.write_text(json.dumps(index))
    videos = {(v.cls, v.vid): v for v in read_video_json(path)}
    assert len(videos) == 5
    bad = next(v for v in videos.values() if v.vid.startswith("invalid-"))
    assert bad.cls == "flute" and 'videos["flute"][0]' in bad.problem and bad.url == ""
    assert not videos[("flute", "kbTy_5o6AB4")].problem
    assert "listed under 'flute'" in videos[("violin", "kbTy_5o6AB4")].problem
    assert not videos[("flute", "-Gdh8N_KpLY")].problem  # a leading "-" is a valid id
    assert not videos[("violin", "D6YQ6WwWZrk")].problem


def test_bad_split_rows(tmp_path):
    path = tmp_path / "train.csv"
    path.write_text("/flute/kbTy_5o6AB4.wav,/flute/kbTy_5o6AB4.mp4,122\n/flute/$(id).wav,x,1\n")
    with pytest.raises(IndexFormatError, match="line 2"):
        read_split_csv(path)


def test_split_class_must_match_index(index_lists, tmp_path):
    config = local_config(index_lists, tmp_path)
    bad = tmp_path / "train.csv"
    bad.write_text("/cello/D6YQ6WwWZrk.wav,/cello/D6YQ6WwWZrk.mp4,87\n")  # a clarinet video
    config["datasets"]["music"]["splits"]["train"] = str(bad)
    with pytest.raises(IndexFormatError, match="labels it 'clarinet'"):
        load_dataset("music", config)


def test_missing_local_index_names_the_key(index_lists, tmp_path):
    config = local_config(index_lists, tmp_path)
    config["datasets"]["music"]["index"]["videos"] = str(tmp_path / "nope.json")
    with pytest.raises(ConfigError, match=r"datasets\.music\.index\.videos"):
        load_dataset("music", config)
