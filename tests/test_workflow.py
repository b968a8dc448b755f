"""Snakemake itself: config validation, offline dry runs of the real indexes, and real runs."""

import io
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import h5py
import pytest
import yaml
from PIL import Image

from iquery.pipeline.core.files import read_tsv
from iquery.pipeline.core.layout import SPLITS
from tests.conftest import REPO, ffmpeg, make_video
from tests.test_indexes import local_config
from tests.tiny_demo import (
    TINY_DEMO,
    copy_tiny_demo,
    job_counts,
    overlay,
    snakemake,
)


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--config", "udio={}"], r"'udio' was unexpected"),
        (["--config", "seed=abc"], r"seed"),
        (["--config", "dataset=nosuch"], r"config key dataset"),
    ],
)
def test_config_errors_name_the_key(tmp_path, extra, message):
    result = snakemake(tmp_path, "-n", *extra, check=False)
    assert result.returncode != 0
    assert re.search(message, result.stderr + result.stdout), result.stderr[-2000:]


def test_missing_index_file_names_the_key(tmp_path):
    bad = overlay(tmp_path, {"datasets": {"music": {"index": {"videos": "/no/such.json"}}}})
    result = snakemake(tmp_path, "-n", "preprocess_music", configs=[bad], check=False)
    assert result.returncode != 0
    assert "datasets.music.index.videos" in result.stdout + result.stderr


def test_typo_inside_a_stage_block(tmp_path):
    bad = overlay(tmp_path, {"download": {"concurent": 2}})
    result = snakemake(tmp_path, "-n", configs=[bad], check=False)
    assert result.returncode != 0
    assert "'concurent' was unexpected" in result.stdout + result.stderr


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"motion": {"resize_shrt": 64}}, "datasets.demo.overrides.motion: unknown key"),
        ({"motion": {"resize_short": "small"}}, "datasets.demo.overrides"),
        ({"train": {"epochs": 1}}, "'train' was unexpected"),
        ({"download": {"concurrent": 2}}, "hold for the whole workflow"),
    ],
)
def test_dataset_overrides_are_checked(tmp_path, overrides, message):
    bad = overlay(tmp_path, {"datasets": {"demo": {"overrides": overrides}}})
    result = snakemake(tmp_path, "-n", configs=[bad], check=False)
    assert result.returncode != 0
    assert message in result.stdout + result.stderr, result.stderr[-2000:]


@pytest.mark.parametrize("name, videos", [("music", 40), ("music21", 67), ("ave", 83)])
def test_real_indexes_dry_run_offline(index_lists, tmp_path, name, videos):
    """Once the index is written, the real lists plan one job per chunk of videos, not per
    video."""
    config = local_config(index_lists, tmp_path)
    local = overlay(tmp_path, {"paths": config["paths"], "datasets": config["datasets"]})
    snakemake(tmp_path, str(tmp_path / "data" / name / "videos.tsv"), configs=[local])
    assert len(read_tsv(tmp_path / "data" / name / "videos.tsv")) == videos
    result = snakemake(tmp_path, "-n", f"preprocess_{name}", configs=[local])
    counts = job_counts(result.stdout)
    assert counts["download"] == counts["audio"] == counts["frames"] == 32
    assert counts["manifest"] == counts["splits"] == 1 and "index" not in counts


def test_index_urls_are_fetched_by_a_rule(index_lists, tmp_path):
    """Reading the workflow fetches nothing: the index URLs are a rule's jobs. Offline, those
    jobs fail naming the config key and the URL; once the files are cached, an offline dry run
    plans the index from them."""
    from iquery.pipeline.datasets.sources import cache_name

    offline = overlay(tmp_path, {"offline": True, "paths": {"data": "data"}})
    plan = snakemake(tmp_path, "-n", "preprocess_music", configs=[offline])
    assert job_counts(plan.stdout)["fetch_index"] == 4
    failed = snakemake(tmp_path, "-k", "preprocess_music", configs=[offline], check=False)
    assert failed.returncode != 0
    logs = "".join(p.read_text() for p in (tmp_path / "data/music/logs").glob("fetch-*.log"))
    music = yaml.safe_load((REPO / "config.yaml").read_text())["datasets"]["music"]
    assert "config key datasets.music.index.videos: offline, and " in logs
    assert music["index"]["videos"] in logs
    copies = {
        music["index"]["videos"]: index_lists / "music_dataset" / "MUSIC_solo_videos.json",
        **{
            music["splits"][s]: index_lists / "splits" / "MUSIC" / f"{n}music.csv"
            for s, n in (("train", "train"), ("test", "test"), ("pairs", "testsep"))
        },
    }
    cache = tmp_path / "data" / "music" / "index"
    cache.mkdir(parents=True, exist_ok=True)
    for url, local in copies.items():
        shutil.copy(local, cache / cache_name(url, "index"))
    counts = job_counts(snakemake(tmp_path, "-n", "preprocess_music", configs=[offline]).stdout)
    assert "fetch_index" not in counts and counts["index"] == 1


@pytest.fixture
def own_videos(media, tmp_path):
    """A user's own index of file URLs, some of them broken."""
    folder = tmp_path / "videos"
    folder.mkdir()
    for name in ("good", "portrait", "vfr", "surround", "no_audio", "short", "truncated"):
        shutil.copy(media[name], folder / f"{name}.mp4")
    make_video(folder / "good2.mp4", seconds=7, size="200x150")
    make_video(folder / "good3.mp4", seconds=7, size="200x150")  # added to the index later
    uri = lambda name: (folder / f"{name}.mp4").as_uri()  # noqa: E731
    index = {
        "videos": {
            "violin": [uri("good"), uri("portrait"), uri("vfr"), uri("no_audio")],
            "acoustic_guitar cello": [
                uri("surround"),
                uri("good2"),
                uri("short"),
                uri("truncated"),
                uri("missing"),
            ],
        }
    }
    (tmp_path / "mine.json").write_text(json.dumps(index))
    return tmp_path / "mine.json"


def own_dataset(index, clip_samples=16383, detector="background"):
    """A dataset of config key ``datasets`` read from a MUSIC-style index file of the user's."""
    return {
        "source": "music_json",
        "index": {"videos": str(index)},
        "audio_rate": 11025,
        "frame_rate": 1,
        "clip_samples": clip_samples,
        "detector": detector,
    }


def executed(result):
    """Jobs a real run executed, per rule, from Snakemake's log."""
    counts = {}
    for match in re.finditer(r"^(?:local)?(?:rule|checkpoint) (\w+):$", result.stderr, re.M):
        counts[match[1]] = counts.get(match[1], 0) + 1
    return counts


def test_own_videos_end_to_end_with_broken_ones(tmp_path, own_videos, tiny_owl):
    """A user's index with broken videos, detected by OWLv2 (a tiny random model), then the
    reruns each change must cause: nothing, one video's files, a stage's settings, one more
    video."""
    mine = own_dataset(own_videos, clip_samples=65535, detector="owl")
    config = overlay(
        tmp_path,
        {
            "dataset": "mine",
            "paths": {"data": "data", "results": "results"},
            "datasets": {"mine": mine},
            "download": {"attempts": 1, "backoff_s": 0, "chunks": 3},
            "audio": {"chunks": 2},  # its chunks each read two download chunks' records
            "frames": {"chunks": 3},
            "detect": {"owl_model": str(tiny_owl), "chunks": 2},
            "motion": {"resize_short": 64, "chunks": 2},
        },
    )
    result = snakemake(tmp_path, "preprocess", configs=[config])
    assert "4 videos left out; reasons in data/mine/excluded.tsv" in result.stdout + result.stderr
    data = tmp_path / "data" / "mine"
    manifest = (data / "manifest.tsv").read_text().splitlines()
    assert len(manifest) == 1 + 5
    excluded = {
        line.split("\t")[1]: line for line in (data / "excluded.tsv").read_text().splitlines()[1:]
    }
    assert set(excluded) == {"no_audio", "short", "truncated", "missing"}
    assert "no audio track" in excluded["no_audio"] and "\taudio\t" in excluded["no_audio"]
    assert "\tdownload\t" in excluded["missing"]
    assert "too short" in excluded["short"]
    cls = "acoustic_guitar_cello"
    assert (data / "frames" / cls / "good2.mp4" / "000007.jpg").is_file()
    assert (data / "audio" / "violin" / "portrait.wav").stat().st_size == 44 + 2 * 8 * 11025
    summary = json.loads((data / "splits" / "summary.json").read_text())
    assert summary["pairs"] >= 1 and summary["test"] == 2
    detections = json.loads((data / "detection_results" / "summary.json").read_text())
    assert detections["videos"] == 5
    for name in ("detection_results/violin/good.mp4.npy", "motion_features/violin/good.mp4.npz"):
        assert (data / name).is_file(), name
    # Nothing changed: a rerun does nothing.
    again = snakemake(tmp_path, "preprocess", configs=[config])
    assert "Nothing to be done" in again.stdout + again.stderr
    # One video's detection file deleted: the workflow names it and the rerun that remakes it;
    # that rerun detects that video alone.
    (data / "detection_results" / "violin" / "good.mp4.npy").unlink()
    failed = snakemake(tmp_path, "-n", "preprocess", configs=[config], check=False)
    assert failed.returncode != 0
    assert "good.mp4.npy is missing: run again with --forcerun detect" in failed.stdout
    since = time.time()
    snakemake(tmp_path, "preprocess", "--forcerun", "detect", configs=[config])
    assert remade(data, since) == {"detect": ["violin/good"]}
    # The detection threshold changed: every chunk is detected again and what follows, but
    # no audio, frames or motion.
    threshold = overlay(tmp_path, {"detect": {"threshold": 0.5}}, "threshold.yaml")
    counts = job_counts(snakemake(tmp_path, "-n", "preprocess", configs=[config, threshold]).stdout)
    assert counts["detect"] == 2 and counts["shard_index"] == 3
    assert not {"motion", "audio", "frames", "download"} & set(counts), counts
    # An audio key changed: only that stage (and what follows it) reruns.
    rate = overlay(tmp_path, {"datasets": {"mine": {"audio_rate": 8000}}}, "rate.yaml")
    counts = job_counts(snakemake(tmp_path, "-n", "preprocess", configs=[config, rate]).stdout)
    assert counts.get("audio") == 2 and "download" not in counts and "frames" not in counts
    # A video added to the index: each stage's chunk jobs run again, but only that video is
    # downloaded, decoded, detected and so on; the others' results are kept.
    index = json.loads(own_videos.read_text())
    index["videos"]["violin"].append((own_videos.parent / "videos" / "good3.mp4").as_uri())
    own_videos.write_text(json.dumps(index))
    since = time.time()
    snakemake(tmp_path, "preprocess", configs=[config])
    stages = ("download", "audio", "frames", "detect", "motion")
    assert remade(data, since) == {stage: ["violin/good3"] for stage in stages}
    assert (data / "detection_results" / "violin" / "good3.mp4.npy").is_file()
    availability = {r["vid"]: r for r in read_tsv(data / "availability.tsv")}
    assert len(availability) == 10 and availability["missing"]["status"] == "missing"
    assert {r["status"] for v, r in availability.items() if v != "missing"} == {"downloaded"}
    # Offline: a YouTube id whose video someone put on disk is used; one that is not there is
    # recorded as missing, and nothing is fetched. The run says how many of each it had.
    index["videos"]["violin"] += ["kbTy_5o6AB4", "iB17xqmFw3A"]
    own_videos.write_text(json.dumps(index))
    (data / "videos" / "violin").mkdir(parents=True, exist_ok=True)
    shutil.copy(own_videos.parent / "videos" / "good.mp4", data / "videos/violin/kbTy_5o6AB4.mp4")
    offline = overlay(tmp_path, {"offline": True}, "offline.yaml")
    result = snakemake(tmp_path, "preprocess", configs=[config, offline])
    availability = {r["vid"]: r for r in read_tsv(data / "availability.tsv")}
    assert availability["kbTy_5o6AB4"]["status"] == "on disk"
    assert availability["iB17xqmFw3A"]["status"] == "missing"
    assert "offline" in availability["iB17xqmFw3A"]["reason"]
    assert "mine: 12 videos listed: 9 downloaded, 2 missing, 1 on disk" in result.stdout
    # Failed downloads are not tried again until asked: then exactly those are.
    assert "Nothing to be done" in snakemake(tmp_path, "preprocess", configs=[config]).stderr
    forgot = snakemake(tmp_path, "retry_downloads", configs=[config])
    assert "2 failed downloads forgotten" in forgot.stdout
    since = time.time()
    snakemake(tmp_path, "preprocess", configs=[config, offline])
    assert remade(data, since)["download"] == [
        "acoustic_guitar_cello/missing",
        "violin/iB17xqmFw3A",
    ]
    # And again: a second retry of the same videos tries them again too (its marker's bytes
    # differ, and Snakemake reruns for a newer input only if its content changed).
    assert "2 failed downloads forgotten" in snakemake(tmp_path, "retry_downloads",
                                                       configs=[config]).stdout  # fmt: skip
    since = time.time()
    snakemake(tmp_path, "preprocess", configs=[config, offline])
    assert len(remade(data, since)["download"]) == 2


def remade(data, since):
    """Per stage, the videos whose record was written after ``since`` (the ones redone)."""
    found = {}
    for record in sorted((data / "records").glob("*/*/*.json")):
        if record.stat().st_mtime > since:
            stage, cls = record.parts[-3], record.parts[-2]
            found.setdefault(stage, []).append(f"{cls}/{record.stem}")
    return found


def test_awkward_real_ids_pass_every_rule(index_lists, tmp_path, media):
    """Ids of the real MUSIC, MUSIC-21 and AVE lists that begin with "-" or hold "_", under
    labels with underscores and a space, through every rule's command line (file:// stand-ins
    for the media)."""
    from iquery.pipeline.datasets.indexes import read_split_csv

    lists = index_lists / "splits"
    labels = {
        "MUSIC/trainmusic.csv": "cello",
        "MUSIC_21/trainmusic21.csv": "electric_bass",
        "AVE/trainave.csv": "acoustic_guitar violin",  # a duet-style label with a space
    }
    index, picked = {"videos": {}}, []
    for csv, label in labels.items():
        ids = [vid for _, vid in read_split_csv(lists / csv)]
        chosen = [v for v in ids if v.startswith("-")][:2]
        chosen += [v for v in ids if "_" in v and not v.startswith("-")][:1]
        folder = tmp_path / "media" / label
        folder.mkdir(parents=True)
        for vid in chosen:
            shutil.copy(media["good"], folder / f"{vid}.mp4")
        index["videos"][label] = [(folder / f"{vid}.mp4").as_uri() for vid in chosen]
        picked += [(label.replace(" ", "_"), vid) for vid in chosen]
    assert sum(vid.startswith("-") for _, vid in picked) == 6
    (tmp_path / "awkward.json").write_text(json.dumps(index))
    mine = own_dataset(tmp_path / "awkward.json")
    config = overlay(
        tmp_path,
        {
            "dataset": "awkward",
            "paths": {"data": "data", "results": "results"},
            "datasets": {"awkward": mine},
            "detect": {"chunks": 2},
            "motion": {"resize_short": 64, "chunks": 2},
        },
    )
    result = snakemake(tmp_path, "preprocess", configs=[config])
    data = tmp_path / "data" / "awkward"
    excluded = (data / "excluded.tsv").read_text()
    assert excluded.count("\n") == 1, excluded  # the header alone: every video went through
    for cls, vid in picked:
        for path in (
            f"audio/{cls}/{vid}.wav",
            f"frames/{cls}/{vid}.mp4/000001.jpg",
            f"detection_results/{cls}/{vid}.mp4.npy",
            f"motion_features/{cls}/{vid}.mp4.npz",
        ):
            assert (data / path).is_file(), path
    shards = [json.loads((data / "shards" / f"{s}.json").read_text()) for s in SPLITS]
    assert sum(len(e["videos"]) for index in shards for e in index["shards"]) == 9
    print(*(f"{cls}/{vid}" for cls, vid in picked), sep="\n")
    print(result.stderr.count("Finished jobid"), "jobs")


def test_start_from_copies(tmp_path, tiny_demo):
    """Copies in the original layout, made from a preprocessed demo: whole, in parts (audio
    and frames; frames and detections, as shared for MUSIC; a flat folder of clips, as AVE's
    archive), and one whose files do not fit. Each stage checks what the copy holds, takes it
    and makes only the rest."""
    import numpy as np

    from iquery.pipeline.datasets.copies import expected_tokens

    made = tiny_demo / "data" / "demo"  # read, never changed
    keys = [(c, f"{c}-{i:02d}") for c in TINY_DEMO["classes"] for i in range(3)]

    def make_copy(name, parts, faults=()):
        root = tmp_path / "copies" / name
        for cls, vid in keys:
            if "audio" in parts:
                (root / "audio" / cls).mkdir(parents=True, exist_ok=True)
                shutil.copy(made / "audio" / cls / f"{vid}.wav", root / "audio" / cls)
            if "frames" in parts:
                shutil.copytree(
                    made / "frames" / cls / f"{vid}.mp4", root / "frames" / cls / f"{vid}.mp4"
                )
            if "detections" in parts:
                (root / "detection_results" / cls).mkdir(parents=True, exist_ok=True)
                source = made / "detection_results" / cls / f"{vid}.mp4.npy"
                shutil.copy(source, root / "detection_results" / cls)
            if "motion" in parts:  # the published format of FAME's I3D: (1024, T', h, w)
                frames = len(list((made / "frames" / cls / f"{vid}.mp4").glob("*.jpg")))
                shape = (1024, expected_tokens(frames, 160), 1, 2)  # the demo learns its own
                (root / "motion_features" / cls).mkdir(parents=True, exist_ok=True)
                published = np.random.default_rng(len(vid)).normal(size=shape).astype(np.float32)
                np.save(root / "motion_features" / cls / f"{vid}.mp4.npy", published)
            if "clips" in parts:
                root.mkdir(parents=True, exist_ok=True)
                shutil.copy(made / "source" / cls / f"{vid}.mp4", root / f"{vid}.mp4")
        for fault in faults:
            fault(root)
        return root

    def wrong_rate(root):
        wav = root / "audio" / "cello" / "cello-00.wav"
        ffmpeg("-i", str(wav), "-ar", "22050", str(wav.with_suffix(".x.wav")))
        wav.with_suffix(".x.wav").replace(wav)

    def frame_gap(root):
        (root / "frames" / "flute" / "flute-01.mp4" / "000003.jpg").unlink()

    def six_columns(root):
        np.save(root / "detection_results/xylophone/xylophone-02.mp4.npy", np.ones((2, 6)))

    def other_length(root):
        path = root / "motion_features" / "cello" / "cello-02.mp4.npy"
        np.save(path, np.concatenate([np.load(path)] * 5, axis=1))

    copies = {
        "whole": make_copy("whole", ("audio", "frames", "detections", "motion")),
        "media": make_copy("media", ("audio", "frames")),
        "shared": make_copy("shared", ("frames", "detections")),
        "clips": make_copy("clips", ("clips",)),
        "faulty": make_copy(
            "faulty",
            ("audio", "frames", "detections", "motion"),
            (wrong_rate, frame_gap, six_columns, other_length),
        ),
    }
    index = {"videos": {c: [] for c in TINY_DEMO["classes"]}}
    for cls, vid in keys:
        index["videos"][cls].append((made / "source" / cls / f"{vid}.mp4").as_uri())
    (tmp_path / "index.json").write_text(json.dumps(index))
    base = own_dataset(tmp_path / "index.json")
    config = overlay(
        tmp_path,
        {
            "paths": {"data": "data"},
            "datasets": {name: base | {"copy": str(root)} for name, root in copies.items()},
            "download": {"chunks": 2},
            "audio": {"chunks": 2},
            "frames": {"chunks": 2},
            "detect": {"chunks": 2},
            "motion": {"resize_short": 64, "chunks": 2},
        },
        "copies.yaml",
    )
    targets = [f"data/{name}/shards/{split}.json" for name in copies for split in SPLITS]
    targets = [t for t in targets if "faulty" not in t] + ["data/faulty/manifest.tsv"]
    result = snakemake(tmp_path, *targets, configs=[config])

    def sources(name, stage):
        tables = sorted((tmp_path / "data" / name / "records").glob(f"{stage}-*.json"))
        records = [r for t in tables for r in json.loads(t.read_text())["records"]]
        return {r["info"]["source"] for r in records if r["status"] == "ok"}

    def availability(name):
        rows = read_tsv(tmp_path / "data" / name / "availability.tsv")
        return {
            status: sum(r["status"] == status for r in rows)
            for status in {r["status"] for r in rows}
        }

    ran = {}
    for name in copies:
        ran[name] = {
            s: sources(name, s) for s in ("download", "audio", "frames", "detect", "motion")
        }
        print(name, availability(name), ran[name])
    assert ran["whole"] == {
        "download": {"copied"}, "audio": {"copied"}, "frames": {"copied"},
        "detect": {"copied"}, "motion": {"copied"},
    }  # fmt: skip
    assert not (tmp_path / "data" / "whole" / "videos").exists()  # nothing downloaded
    assert ran["media"] == {
        "download": {"copied"}, "audio": {"copied"}, "frames": {"copied"},
        "detect": {"detected"}, "motion": {"extracted"},
    }  # fmt: skip
    assert ran["shared"] == {
        "download": {"downloaded"}, "audio": {"extracted"}, "frames": {"copied"},
        "detect": {"copied"}, "motion": {"extracted"},
    }  # fmt: skip
    assert ran["clips"] == {
        "download": {"copied"}, "audio": {"extracted"}, "frames": {"extracted"},
        "detect": {"detected"}, "motion": {"extracted"},
    }  # fmt: skip
    assert availability("whole") == {"copied": 9} and availability("shared") == {"downloaded": 9}
    for name in ("whole", "media", "shared", "clips"):
        shards = [
            json.loads((tmp_path / f"data/{name}/shards/{s}.json").read_text()) for s in SPLITS
        ]
        assert sum(len(e["videos"]) for i in shards for e in i["shards"]) == 9, name
    excluded = {r["vid"]: r for r in read_tsv(tmp_path / "data" / "faulty" / "excluded.tsv")}
    assert sorted(excluded) == ["cello-00", "cello-02", "flute-01", "xylophone-02"]
    assert "at 22050 Hz, the dataset's rate is 11025 Hz" in excluded["cello-00"]["reason"]
    assert "without gaps" in excluded["flute-01"]["reason"]
    assert "(K, 7)" in excluded["xylophone-02"]["reason"]
    assert "time steps" in excluded["cello-02"]["reason"]
    assert "faulty: 4 videos left out" in result.stderr


def test_demo_end_to_end(tmp_path, tiny_demo):
    """A tiny demo through every stage: generated, 'downloaded', extracted, detected, motion
    tokens, split, packed into shards (once per session, copied here: nothing before training
    runs again); then iQuery, SoP and no-motion trained (one step each), evaluated and compared
    in the report. A model key changed afterwards reruns only training, evaluation and
    report."""
    tiny = copy_tiny_demo(tiny_demo, tmp_path)
    result = snakemake(tmp_path, "evaluate_demo", configs=[tiny])
    assert set(executed(result)) == {
        "visual_encoder", "train", "evaluate", "compare", "report", "evaluate_demo",
    }, executed(result)  # fmt: skip
    data = tmp_path / "data" / "demo"
    index = json.loads((data / "source" / "index.json").read_text())
    assert sorted(index["videos"]) == ["cello", "flute", "xylophone"]
    manifest = (data / "manifest.tsv").read_text().splitlines()
    assert len(manifest) == 1 + 9, (data / "excluded.tsv").read_text()
    for line in manifest[1:]:
        cls, vid, seconds, samples, rate, frames, fps, note = line.split("\t")
        # seconds is written to the millisecond: 0.5 ms is 5.5 samples at 11025 Hz
        assert int(rate) == 11025 and abs(int(samples) - float(seconds) * 11025) <= 5.6
        wav = data / "audio" / cls / f"{vid}.wav"
        assert wav.stat().st_size == 44 + 2 * int(samples)
        jpgs = sorted((data / "frames" / cls / f"{vid}.mp4").glob("*.jpg"))
        assert len(jpgs) == int(frames) >= 6
    summary = json.loads((data / "splits" / "summary.json").read_text())
    assert summary["test"] == 3 and summary["pairs"] >= 3
    detections = json.loads((data / "detection_results" / "summary.json").read_text())
    assert detections["videos"] == 9 and detections["truth_frames"] >= 54
    for split in ("train", "val", "test"):
        index = json.loads((data / "shards" / f"{split}.json").read_text())
        assert sum(len(s["videos"]) for s in index["shards"]) == 3
    # The demo's override of shards.crop_side reached the shards: crops at the training size.
    with h5py.File(data / "shards" / "train-000.h5") as h5:
        videos = next(iter(h5["videos"].values()))
        jpeg = next(iter(videos.values()))["frames"][0].tobytes()
    assert min(Image.open(io.BytesIO(jpeg)).size) == 70
    results = tmp_path / "results" / "demo"
    for run in ("iquery", "sop", "nomotion"):
        metrics = json.loads((results / run / "seed-1234" / "metrics.json").read_text())
        assert metrics["variant"] == run and metrics["scored"] == 3, metrics
        model = metrics["methods"]["model"]
        # One test video a class: too few to draw them again, so no interval over videos is
        # claimed; the one over the pairs only is there, labelled.
        assert model["sdr_interval"] == [None, None] and metrics["test_videos"] == 3
        assert model["sdr_interval_pairs_only"][0] <= model["sdr"]
    comparison = json.loads((results / "comparison.json").read_text())
    assert comparison["seeds"] == [1234] and comparison["pairs"]["compared"] == 3
    assert "too few to draw them again" in comparison["differences"][0]["sentence"]
    # Snakemake's own report gathers the marked results, each with its caption.
    snakemake(tmp_path, "--report", "snakemake-report.html", configs=[tiny])
    gathered = (tmp_path / "snakemake-report.html").read_text()
    for name in ("report.html", "per_class.png", "curves.png", "results.tsv", "per_class.tsv"):
        assert name in gathered, name
    assert "ideal ratio mask (the ceiling)" in gathered  # a caption
    assert "iQuery\tiquery\t" in (results / "report" / "results.tsv").read_text()
    page = (results / "report.html").read_text()
    labels = ("iQuery (iquery)", "Sound-of-Pixels (sop)", "iQuery without motion (nomotion)")
    for label in (*labels, "ideal ratio mask"):
        assert f"<td>{label}</td>" in page
    # The seed study: each run trained again with the second seed only (seed 1234's runs are
    # the ones above), each seed its own job and folder, then compared over both seeds.
    plan = snakemake(tmp_path, "-n", "evaluate_demo_seeds", configs=[tiny])
    assert job_counts(plan.stdout) == {
        "train": 3, "evaluate": 3, "compare_seeds": 1, "report_seeds": 1,
        "evaluate_demo_seeds": 1, "total": 9,
    }  # fmt: skip
    snakemake(tmp_path, "evaluate_demo_seeds", configs=[tiny])
    study = json.loads((results / "seeds" / "comparison.json").read_text())
    assert study["seeds"] == [1234, 1235]
    assert study["bootstrap"]["over"] == "test videos and training seeds"
    folders = {m["name"]: m.get("folders") for m in study["methods"]}
    assert folders["iquery"] == [f"results/demo/iquery/seed-{s}" for s in (1234, 1235)]
    assert "over 2 seeds" in (results / "seeds" / "report.html").read_text()
    # Separating a video of the demo's classes with the iquery run, as a user would; the
    # demo's background detector does not name classes, so they are given.
    duet = data / "videos" / "flute" / "flute-00.mp4"
    classes = overlay(
        tmp_path, {"separate": {"classes": ["cello", "flute"], "keep_prepared": True}}, "sep.yaml"
    )
    snakemake(tmp_path, "separate", "--config", f"video={duet}", configs=[tiny, classes])
    separated = results / "separated" / "flute-00"
    facts = json.loads((separated / "separation.json").read_text())
    assert facts["classes"] == ["cello", "flute"] and facts["classes_from"] == "by the user"
    for name in ("cello", "flute", "residual", "mixture"):
        assert (separated / f"{name}.wav").is_file() and (separated / f"{name}.mp4").is_file()
    # The video was prepared for separation exactly as for training: its detections, every
    # frame's crop and its motion tokens equal what the workflow made of it and packed in its
    # shard (the demo: 70-px crops, 64-px motion frames, seeded random I3D weights).
    assert_prepared_as_in_the_shards(separated / "prepared", data, "flute", "flute-00")
    # By hand, as README shows it, with the same run's checkpoint: the same tracks, to the bit
    # (both prepare the video with the recipe the checkpoint records).
    by_hand = tmp_path / "by-hand"
    summary = results / "iquery" / "seed-1234" / "train_summary.json"
    subprocess.run(
        [Path(sys.executable).parent / "iquery", "separate", "--summary", summary]
        + ["--video", duet, "--out", by_hand, "--classes", "cello", "flute"],
        check=True,
        cwd=tmp_path,
        capture_output=True,
    )
    for name in ("cello", "flute", "residual", "mixture"):
        made = (separated / f"{name}.wav").read_bytes()
        assert (by_hand / f"{name}.wav").read_bytes() == made, f"{name}: by hand != target"
    # A corrupt test shard stops evaluation with the command that rebuilds it; that command,
    # run where the workflow ran, does, and evaluation then goes through.
    shard = data / "shards" / "test-000.h5"
    with h5py.File(shard) as h5:
        audio = h5["videos"][next(iter(h5["videos"]))]
        audio = audio[next(iter(audio))]["audio"]
        offset = audio.id.get_chunk_info(audio.id.get_num_chunks() // 2).byte_offset
    data_bytes = bytearray(shard.read_bytes())
    data_bytes[offset : offset + 200] = bytes(b ^ 0xFF for b in data_bytes[offset : offset + 200])
    shard.write_bytes(bytes(data_bytes))
    metrics = "results/demo/iquery/seed-1234/metrics.json"  # as the workflow names it
    failed = snakemake(tmp_path, "--force", metrics, configs=[tiny], check=False)
    assert failed.returncode != 0, failed.stderr[-3000:]
    log = (results / "logs" / "evaluate-iquery-seed-1234.log").read_text()
    printed = re.search(r"`snakemake --cores 1 --force (\S+)`", log)
    assert printed and printed[1] == "data/demo/shards/test-000.h5" and "corrupt" in log, (
        log + failed.stderr[-3000:]
    )
    snakemake(tmp_path, "--cores", "1", "--force", printed[1], configs=[tiny])
    snakemake(tmp_path, "--force", metrics, configs=[tiny])
    # A model key changed: training, evaluation and report rerun, nothing before them.
    wider = overlay(
        tmp_path,
        {"train": {"settings": {"demo": {"model_overrides": {"ngf": 8}}}}},
        "wider.yaml",
    )
    plan = snakemake(tmp_path, "-n", "evaluate_demo", configs=[tiny, wider])
    counts = job_counts(plan.stdout)
    assert counts == {
        "train": 3, "evaluate": 3, "compare": 1, "report": 1, "evaluate_demo": 1, "total": 9,
    }  # fmt: skip


def assert_prepared_as_in_the_shards(prepared, data, cls, vid):
    import numpy as np

    from iquery.pipeline.motion.tokens import load_tokens

    stages = np.load(data / "detection_results" / cls / f"{vid}.mp4.npy")
    np.testing.assert_array_equal(np.load(prepared / "detections.npy"), stages)
    tokens = load_tokens(data / "motion_features" / cls / f"{vid}.mp4.npz").tokens
    motion = np.load(prepared / "motion.npy")
    np.testing.assert_array_equal(motion.astype(tokens.dtype), tokens)
    holder = next(
        data / "shards" / entry["file"]
        for split in SPLITS
        for entry in json.loads((data / "shards" / f"{split}.json").read_text())["shards"]
        if [cls, vid] in entry["videos"]
    )
    with h5py.File(holder) as h5:
        group = h5[f"videos/{cls}/{vid}"]
        packed = [bytes(jpeg.tobytes()) for jpeg in group["frames"]]
        np.testing.assert_array_equal(motion.astype(np.float16), group["motion"][:])
    crops = sorted((prepared / "crops" / cls).glob("*.jpg"))
    assert len(crops) == len(packed) > 0
    for k, (path, jpeg) in enumerate(zip(crops, packed, strict=True)):
        assert path.read_bytes() == jpeg, f"frame {k + 1}'s crop differs from the shard's"


def test_train_settings_schema_names_every_training_setting():
    """config.yaml's training blocks are checked by the schema before anything runs: it must
    know exactly the settings iquery/cli/train.py takes."""
    from iquery.model.iquery import ModelConfig
    from iquery.model.settings import DEFAULTS

    schema = yaml.safe_load((REPO / "schemas" / "config.schema.yaml").read_text())
    settings = schema["$defs"]["train_settings"]["properties"]
    assert set(settings) == set(DEFAULTS)
    overrides = set(settings["model_overrides"]["properties"])
    # Derived, not set: motion_dim (variant and shards), visual_weights (its own key),
    # num_queries (classes + spare_queries).
    derived = {"motion_dim", "visual_weights", "num_queries"}
    fields = set(ModelConfig.__dataclass_fields__) - derived
    assert overrides == fields


def test_training_typo_is_named(tmp_path):
    typo = overlay(tmp_path, {"train": {"settings": {"demo": {"epoch": 3}}}}, "typo.yaml")
    result = snakemake(tmp_path, "-n", configs=[typo], check=False)
    assert result.returncode != 0
    assert "'epoch' was unexpected" in result.stderr + result.stdout


def test_training_targets_dry_run_offline(index_lists, tmp_path):
    """The paper's targets plan their runs on the real lists; the ImageNet weights are one job
    shared by every run that names them."""
    config = local_config(index_lists, tmp_path)
    local = overlay(tmp_path, {"paths": config["paths"], "datasets": config["datasets"]})
    result = snakemake(tmp_path, "-n", "evaluate_ave", "train_nomotion", configs=[local])
    counts = job_counts(result.stdout)
    # AVE: iQuery (no motion) and SoP, both evaluated; MUSIC: the no-motion ablation.
    assert counts["train"] == 3 and counts["evaluate"] == 2 and counts["report"] == 1
    assert counts["visual_weights"] == 1
    assert "results/ave/report.html" in result.stdout
    assert "results/music/nomotion/seed-1234/train_summary.json" in result.stdout


def test_separate_fetches_with_the_config_s_download_block(tmp_path):
    """A URL to separate is fetched as the datasets' videos are (block download: attempts,
    back-off, cookies), at block separate's format; by hand, config.yaml's blocks are the
    defaults."""
    from iquery.pipeline.separate.video import project_config
    from iquery.pipeline.stages.one_video import download_settings

    video = tmp_path / "duet.mp4"
    video.write_bytes(b"")  # a dry run only plans
    (tmp_path / "cookies.txt").write_text("# Netscape HTTP Cookie File\n")
    settings = overlay(tmp_path, {"download": {"attempts": 7, "cookies": "cookies.txt"}})
    result = snakemake(tmp_path, "-n", "-p", "separate", "--config", f"video={video}",
                       configs=[settings])  # fmt: skip
    planned = re.search(r"'--download-settings=([^']*)'", result.stdout)
    assert planned, result.stdout[-2000:]
    fetched = json.loads(planned.group(1))
    assert fetched["attempts"] == 7 and fetched["cookies"] == "cookies.txt"
    config = project_config()
    assert fetched["format"] == config["separate"]["format"]
    by_hand = download_settings(config, config["dataset"])
    assert by_hand.attempts == config["download"]["attempts"] and by_hand.chunks == 1
