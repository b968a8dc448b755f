import random
from collections import Counter

import pytest

from iquery.pipeline.core.layout import VIDEO_STAGES, Layout
from iquery.pipeline.core.records import FAILED, OK, SKIPPED, read_record, write_record
from iquery.pipeline.datasets.manifest import collect
from iquery.pipeline.datasets.splits import balanced_pairs, generate_pairs, make_splits


def _records(records, cls, vid, statuses, reason="gone", frames=12):
    """Write one video's records as the stages would, and read them back."""
    for stage, status in zip(VIDEO_STAGES, statuses, strict=True):
        info = {}
        if stage == "audio":
            info = {"seconds": 12.0, "samples": 132300, "audio_rate": 11025}
        if stage == "frames":
            info = {"count": frames, "frame_rate": 1}
        path = Layout(str(records["root"])).record("demo", stage, cls, vid)
        write_record(
            path,
            stage=stage,
            cls=cls,
            vid=vid,
            status=status,
            reason="" if status == OK else reason,
            info=info,
        )
        records.setdefault(stage, []).append(read_record(path))


def test_manifest_keeps_good_and_names_the_failing_stage(tmp_path):
    records = {"root": tmp_path}
    _records(records, "flute", "a", (OK, OK, OK))
    _records(records, "flute", "b", (FAILED, SKIPPED, SKIPPED), reason="unavailable: private")
    _records(records, "cello", "c", (OK, FAILED, OK), reason="no audio track")
    rows = [{"class": c, "vid": v} for c, v in (("flute", "a"), ("flute", "b"), ("cello", "c"))]
    usable, excluded = collect(rows, records)
    assert [(r["class"], r["vid"]) for r in usable] == [("flute", "a")]
    assert excluded == [
        {"class": "flute", "vid": "b", "stage": "download", "reason": "unavailable: private"},
        {"class": "cello", "vid": "c", "stage": "audio", "reason": "no audio track"},
    ]


def test_a_picture_longer_than_its_sound_is_kept_and_noted(tmp_path):
    """A variable-frame-rate video whose picture lasts 14.8 s and its sound 12.0 s (here 15
    frames at 1 fps): kept, with the difference in the manifest's note."""
    records = {"root": tmp_path}
    _records(records, "flute", "even", (OK, OK, OK))
    _records(records, "flute", "vfr", (OK, OK, OK), frames=15)
    rows = [{"class": "flute", "vid": v} for v in ("even", "vfr")]
    usable, excluded = collect(rows, records)
    assert not excluded and [r["note"] for r in usable][0] == ""
    assert usable[1]["note"].startswith("picture 15.0 s, sound 12.0 s")


def test_manifest_names_a_missing_record(tmp_path):
    records = {"root": tmp_path}
    _records(records, "flute", "a", (OK, OK, OK))
    with pytest.raises(RuntimeError, match="flute/x: no download record"):
        collect([{"class": "flute", "vid": "x"}], records)


def _keys(classes=4, per_class=8):
    return [(f"c{c}", f"v{c}{i}") for c in range(classes) for i in range(per_class)]


def test_generated_splits_are_disjoint_and_seeded():
    keys = _keys()
    a = make_splits(keys, seed=1, val_fraction=0.15, test_fraction=0.2, pairs_per_test_video=3)
    b = make_splits(keys, seed=1, val_fraction=0.15, test_fraction=0.2, pairs_per_test_video=3)
    c = make_splits(keys, seed=2, val_fraction=0.15, test_fraction=0.2, pairs_per_test_video=3)
    assert a == b and a != c
    train, val, test = set(a["train"]), set(a["val"]), set(a["test"])
    assert not (train & val or train & test or val & test)
    assert train | val | test == set(keys)
    for split in (a["val"], a["test"]):  # every class in every split
        assert {k[0] for k in split} == {"c0", "c1", "c2", "c3"}
    assert all(p[0][0] != p[1][0] and p[0] in test and p[1] in test for p in a["pairs"])
    assert len(a["pairs"]) == len(set(map(frozenset, a["pairs"])))


def test_a_fixed_number_of_pairs_spreads_evenly_over_the_test_videos():
    # The demo's test set: 10 classes x 15 test videos, 600 pairs, each video in 8.
    keys = _keys(10, 30)
    a = make_splits(
        keys, seed=1234, val_fraction=0.2, test_fraction=0.5, pairs_per_test_video=4,
        test_pairs=600,
    )  # fmt: skip
    assert (len(a["train"]), len(a["val"]), len(a["test"])) == (120, 30, 150)
    pairs = a["pairs"]
    assert len(pairs) == 600 == len(set(map(frozenset, pairs)))
    assert all(p[0][0] != p[1][0] and p[0] in a["test"] and p[1] in a["test"] for p in pairs)
    count = Counter(key for pair in pairs for key in pair)
    assert set(count) == set(a["test"]) and max(count.values()) - min(count.values()) <= 1
    # Each class sits first in some pairs and second in others.
    assert {p[0][0] for p in pairs} == {p[1][0] for p in pairs} == {f"c{c}" for c in range(10)}
    with pytest.raises(ValueError, match="make only 3 pairs"):
        balanced_pairs(_keys(3, 1), 4, random.Random(0))


def test_a_test_fraction_of_one_makes_a_test_only_set():
    # Fresh test videos for models trained elsewhere (bench/coverage.py): no train, no val.
    a = make_splits(
        _keys(4, 6), seed=7, val_fraction=0.2, test_fraction=1, pairs_per_test_video=4,
        test_pairs=40,
    )  # fmt: skip
    assert a["train"] == [] and a["val"] == [] and len(a["test"]) == 24
    assert len(a["pairs"]) == 40
    count = Counter(key for pair in a["pairs"] for key in pair)
    assert max(count.values()) - min(count.values()) <= 1


def test_pairs_never_same_class():
    pairs = generate_pairs(_keys(3, 2), per_video=10, rng=random.Random(0))
    assert pairs and all(a[0] != b[0] for a, b in pairs)


def test_paper_lists_are_intersected_and_leaks_dropped():
    available = _keys(2, 6)
    train = available[:4] + available[6:10] + [("c0", "gone")]
    test = [("c0", "v05"), ("c1", "v15"), ("c0", "v00")]  # v00 is also in train: a leak
    pairs = [(("c0", "v05"), ("c1", "v15")), (("c0", "gone"), ("c1", "v15"))]
    s = make_splits(
        available,
        seed=0,
        val_fraction=0.25,
        test_fraction=0.2,
        pairs_per_test_video=1,
        paper_train=train,
        paper_test=test,
        paper_pairs=pairs,
    )
    assert ("c0", "v00") not in s["train"] + s["val"]
    assert ("c0", "gone") not in s["train"]
    assert s["pairs"] == [pairs[0]]
    assert len(s["val"]) == 2 and not set(s["val"]) & set(s["train"])
    assert any("dropped 1 test videos" in note for note in s["notes"])


def test_an_index_of_one_class_stops_with_one_line_that_says_what_to_do(tmp_path):
    from iquery.cli.make_splits import main
    from iquery.pipeline.core.files import write_tsv

    manifest = tmp_path / "manifest.tsv"
    write_tsv(manifest, ["class", "vid"], [{"class": "cello", "vid": f"v{i}"} for i in range(8)])
    settings = '{"val_fraction": 0.2, "test_fraction": 0.5, "pairs_per_test_video": 2}'
    outputs = [a for n in ("train", "val", "test", "pairs", "summary")
               for a in (f"--{n}", str(tmp_path / n))]  # fmt: skip
    with pytest.raises(SystemExit) as stopped:
        main(["--manifest", str(manifest), "--seed", "1", "--settings", settings, *outputs])
    said = str(stopped.value)
    assert "\n" not in said and said.startswith(f"make_splits: {manifest}: no test pairs")
    assert "all of ['cello']" in said and "at least two classes in the index" in said
