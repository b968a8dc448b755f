"""Snakemake itself: config validation, offline dry runs of the real indexes, and real runs."""

import json
import re
import shutil
import subprocess
import sys

import h5py
import pytest
import yaml

from pipeline.files import read_tsv
from pipeline.layout import SPLITS
from tests.conftest import REPO, make_video
from tests.test_indexes import local_config


def snakemake(workdir, *args, configs=(), check=True):
    """Run the project's workflow in ``workdir`` with config.yaml plus overlay files."""
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(REPO / "Snakefile"),
        "--directory",
        str(workdir),
        "--cores",
        "2",
        *args,  # before --configfile, whose file list would swallow a target
        "--configfile",
        str(REPO / "config.yaml"),
        *map(str, configs),
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    if check and result.returncode != 0:
        pytest.fail(
            f"snakemake failed ({result.returncode}):\n{result.stdout[-3000:]}\n"
            f"{result.stderr[-5000:]}"
        )
    return result


def overlay(tmp_path, data, name="overlay.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


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


def job_counts(output):
    table = output[output.index("Job stats:") :]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M)}


@pytest.mark.parametrize("name, videos", [("music", 476), ("music21", 1092), ("ave", 3741)])
def test_real_indexes_dry_run_offline(shared_data, tmp_path, name, videos):
    config = local_config(shared_data, tmp_path)
    local = overlay(tmp_path, {"paths": config["paths"], "datasets": config["datasets"]})
    result = snakemake(tmp_path, "-n", f"preprocess_{name}", configs=[local])
    counts = job_counts(result.stdout)
    assert counts["download"] == counts["audio"] == counts["frames"] == videos
    assert counts["manifest"] == counts["splits"] == counts["index"] == 1


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
    mine = {
        "source": "music_json",
        "index": {"videos": str(own_videos)},
        "audio_rate": 11025,
        "frame_rate": 1,
        "clip_samples": 65535,
        "detector": "owl",
    }
    config = overlay(
        tmp_path,
        {
            "dataset": "mine",
            "paths": {"data": "data", "results": "results"},
            "datasets": {"mine": mine},
            "download": {"attempts": 1, "backoff_s": 0},
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
    # One video's detection file deleted: it is cut again from its chunk, and what reads it
    # follows; no detector runs, no other video is touched.
    (data / "detection_results" / "violin" / "good.mp4.npy").unlink()
    counts = job_counts(snakemake(tmp_path, "-n", "preprocess", configs=[config]).stdout)
    assert counts["detections"] == 1 and counts["shard"] == 1 and counts["shard_index"] == 1
    assert not {"detect", "motion", "audio", "frames", "download"} & set(counts), counts
    snakemake(tmp_path, "preprocess", configs=[config])
    # The detection threshold changed: every chunk is detected again and what follows, but
    # no audio, frames or motion.
    threshold = overlay(tmp_path, {"detect": {"threshold": 0.5}}, "threshold.yaml")
    counts = job_counts(snakemake(tmp_path, "-n", "preprocess", configs=[config, threshold]).stdout)
    assert counts["detect"] == 2 and counts["detections"] == 5 and counts["shard_index"] == 3
    assert not {"motion", "motion_tokens", "audio", "frames", "download"} & set(counts), counts
    # An audio key changed: only that stage (and what follows it) reruns.
    rate = overlay(tmp_path, {"datasets": {"mine": {"audio_rate": 8000}}}, "rate.yaml")
    counts = job_counts(snakemake(tmp_path, "-n", "preprocess", configs=[config, rate]).stdout)
    assert counts.get("audio") == 9 and "download" not in counts and "frames" not in counts
    # A video added to the index: its own download, audio and frames, its chunk of each
    # batched stage (with the cuts of that chunk's videos), and the shards.
    index = json.loads(own_videos.read_text())
    index["videos"]["violin"].append((own_videos.parent / "videos" / "good3.mp4").as_uri())
    own_videos.write_text(json.dumps(index))
    ran = executed(snakemake(tmp_path, "preprocess", configs=[config]))
    assert ran["download"] == ran["audio"] == ran["frames"] == 1, ran
    assert ran["detect"] == ran["motion"] == 1, ran
    assert ran["detections"] < 6 and ran["motion_tokens"] < 6, ran
    assert (data / "detection_results" / "violin" / "good3.mp4.npy").is_file()
    assert ran["shard_index"] == 3, ran
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
    counts = job_counts(snakemake(tmp_path, "-n", "preprocess", configs=[config]).stdout)
    assert counts["download"] == 2, counts


def test_awkward_real_ids_pass_every_rule(shared_data, tmp_path, media):
    """Ids of the real MUSIC, MUSIC-21 and AVE lists that begin with "-" or hold "_", under
    labels with underscores and a space, through every rule's command line (file:// stand-ins
    for the media)."""
    from pipeline.indexes import read_split_csv

    lists = shared_data / "iquery_splits"
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
    mine = {
        "source": "music_json",
        "index": {"videos": str(tmp_path / "awkward.json")},
        "audio_rate": 11025,
        "frame_rate": 1,
        "clip_samples": 16383,
        "detector": "background",
    }
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


def test_demo_end_to_end(tmp_path):
    """A tiny demo through every stage: generated, 'downloaded', extracted, detected, motion
    tokens, split, packed into shards; then iQuery, SoP and no-motion trained (one step each),
    evaluated and compared in the report. A model key changed afterwards reruns only training,
    evaluation and report."""
    tiny = overlay(
        tmp_path,
        {
            "paths": {"data": "data", "results": "results"},
            "demo": {
                "classes": ["cello", "flute", "xylophone"],
                "videos_per_class": 3,
                "min_seconds": 6.5,
                "max_seconds": 8,
                "width": 160,
                "height": 120,
                "fps": 8,
            },
            "detect": {"chunks": 2},
            "motion": {"chunks": 2},
            "train": {
                "eval_jobs": 1,
                "report_examples": 2,
                "settings": {
                    "demo": {
                        "epochs": 1,
                        "dup": 1,
                        "batch_size": 2,
                        "num_sanity_val_steps": 0,
                        "model_overrides": {"ngf": 4, "channels": 4, "visual_dim": 4},
                    }
                },
            },
        },
    )
    snakemake(tmp_path, "evaluate_demo", configs=[tiny])
    data = tmp_path / "data" / "demo"
    index = json.loads((data / "source" / "index.json").read_text())
    assert sorted(index["videos"]) == ["cello", "flute", "xylophone"]
    manifest = (data / "manifest.tsv").read_text().splitlines()
    assert len(manifest) == 1 + 9, (data / "excluded.tsv").read_text()
    for line in manifest[1:]:
        cls, vid, seconds, samples, rate, frames, fps = line.split("\t")
        assert int(rate) == 11025 and int(samples) == round(float(seconds) * 11025)
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
    results = tmp_path / "results" / "demo"
    for run in ("iquery", "sop", "nomotion"):
        metrics = json.loads((results / run / "metrics.json").read_text())
        assert metrics["variant"] == run and metrics["scored"] + metrics["skipped"] >= 3
    page = (results / "iquery" / "report.html").read_text()
    labels = ("iQuery (iquery)", "Sound-of-Pixels (sop)", "iQuery without motion (nomotion)")
    for label in (*labels, "ideal ratio mask"):
        assert f"<td>{label}</td>" in page
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
    metrics = "results/demo/iquery/metrics.json"  # as the workflow names it
    failed = snakemake(tmp_path, "--force", metrics, configs=[tiny], check=False)
    assert failed.returncode != 0, failed.stderr[-3000:]
    log = (results / "logs" / "evaluate-iquery.log").read_text()
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
    assert counts == {"train": 3, "evaluate": 3, "report": 1, "evaluate_demo": 1, "total": 8}


def test_train_settings_schema_names_every_training_setting():
    """config.yaml's training blocks are checked by the schema before anything runs: it must
    know exactly the settings workflow_scripts/train.py takes."""
    from model.iquery import ModelConfig
    from model.settings import DEFAULTS

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


def test_training_targets_dry_run_offline(shared_data, tmp_path):
    """The paper's targets plan their runs on the real lists; the ImageNet weights are one job
    shared by every run that names them."""
    config = local_config(shared_data, tmp_path)
    local = overlay(tmp_path, {"paths": config["paths"], "datasets": config["datasets"]})
    result = snakemake(tmp_path, "-n", "evaluate_ave", "train_nomotion", configs=[local])
    counts = job_counts(result.stdout)
    # AVE: iQuery (no motion) and SoP, both evaluated; MUSIC: the no-motion ablation.
    assert counts["train"] == 3 and counts["evaluate"] == 2 and counts["report"] == 1
    assert counts["visual_weights"] == 1
    assert "results/ave/iquery/report.html" in result.stdout
    assert "results/music/nomotion/train_summary.json" in result.stdout
