"""The stage framework: each stage's settings are config's keys, typed once; the one command runs
any registered stage; a new stage needs only its declaration; separate's recipe is the
workflow's."""

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from iquery.cli import stage as stage_cli
from iquery.pipeline.core.errors import ConfigError, MediaError
from iquery.pipeline.core.files import write_tsv
from iquery.pipeline.core.layout import Layout
from iquery.pipeline.datasets.indexes import Video
from iquery.pipeline.stages.batches import read_table, run_batch
from iquery.pipeline.stages.framework import (
    BLOCK,
    DATASET,
    LISTED,
    Stage,
    StageJob,
    StageSettings,
    dataset_key,
)
from iquery.pipeline.stages.recipe import RECIPE_STAGES, recipe, stage_settings
from iquery.pipeline.stages.registry import STAGES

REPO = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((REPO / "config.yaml").read_text())
SCHEMA = yaml.safe_load((REPO / "schemas" / "config.schema.yaml").read_text())
CLASSES = ["cello", "flute"]


@pytest.mark.parametrize("name", list(STAGES))
def test_settings_are_config_keys_typed_once(name):
    """Every field of a stage's settings names a key of its block or of a dataset's entry, as
    config.yaml spells it; every key of the block a job reads is a field (but the workflow-wide
    download.concurrent); the object survives the JSON the rule passes."""
    kind = STAGES[name].settings
    dataset_keys = set(SCHEMA["$defs"]["dataset"]["properties"])
    fields = {f.name: f.metadata.get("source", BLOCK) for f in dataclasses.fields(kind)}
    for field, source in fields.items():
        if source == BLOCK:
            assert field in CONFIG[name], f"{name}.{field} is not a key of block {name}"
        elif source == DATASET:
            assert field in dataset_keys, f"{name}.{field} is not a dataset key"
    read = set(CONFIG[name]) - ({"concurrent"} if name == "download" else set())
    assert read <= set(fields), f"block {name} keys not typed: {read - set(fields)}"
    for dataset in CONFIG["datasets"]:
        settings = kind.from_config(CONFIG, dataset, name, CLASSES)
        assert kind.from_json(settings.to_json()) == settings
        overrides = CONFIG["datasets"][dataset].get("overrides", {}).get(name, {})
        for key, value in overrides.items():
            assert getattr(settings, key) == value  # the dataset's own value wins


def test_settings_refuse_what_is_not_theirs():
    audio = STAGES["audio"].settings
    good = json.loads(audio.from_config(CONFIG, "demo", "audio").to_json())
    with pytest.raises(ConfigError, match="unexpected keyword argument 'rate'"):
        audio.from_json(good | {"rate": 22050})
    with pytest.raises(ConfigError, match="missing 1 required keyword-only argument"):
        audio.from_json({k: v for k, v in good.items() if k != "audio_rate"})


def test_frames_carry_the_motion_block_only_where_motion_is_on():
    frames = STAGES["frames"].settings
    assert frames.from_config(CONFIG, "demo", "frames", CLASSES).motion.resize_short == 64
    assert frames.from_config(CONFIG, "ave", "frames", CLASSES).motion is None


def test_the_recipe_is_each_stage_settings_without_chunks():
    made = recipe(CONFIG, "demo", CLASSES)
    assert list(made["stages"]) == list(RECIPE_STAGES)
    assert made["shards"]["crop_side"] == 70 and made["box_rule"] == "top"
    assert all("chunks" not in settings for settings in made["stages"].values())
    motion = STAGES["motion"].settings.from_config(CONFIG, "demo", "motion", CLASSES)
    # `learned` is the file rule motion_encoder makes: the recipe names it, for separate.
    learned = Layout(**CONFIG["paths"]).motion_encoder("demo")
    assert stage_settings(made, "motion") == dataclasses.replace(motion, chunks=1, weights=learned)
    assert "motion" not in recipe(CONFIG, "ave", CLASSES)["stages"]
    assert stage_settings(made, "audio", min_seconds=0.1).min_seconds == 0.1


# --- a stage nobody registered: what adding one takes -------------------------------------------


@dataclass(frozen=True, kw_only=True)
class SizeSettings(StageSettings):
    unit: int
    audio_rate: int = dataset_key()


def size_work(job, video, upstream):
    wav = Path(job.layout.audio(job.dataset, video.cls, video.vid))
    if not wav.is_file():
        raise MediaError("no audio")
    out = Path(job.layout.dataset(job.dataset)) / "sizes" / f"{video.vid}.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(str(wav.stat().st_size // job.settings.unit))
    return {"size": out.read_text()}


SIZE = Stage(
    "size",
    SizeSettings,
    LISTED,
    made_from=lambda job, video, upstream: {"unit": job.settings.unit},
    work=size_work,
    outputs=lambda job, video: (
        Path(job.layout.dataset(job.dataset)) / "sizes" / f"{video.vid}.txt",
    ),
)


def test_a_new_stage_is_its_declaration(tmp_path):
    """Settings from its block and the dataset, a step per video, records, a failure recorded
    with its reason, kept on a rerun, redone when its setting changes."""
    config = CONFIG | {"size": {"chunks": 1, "unit": 100}}
    settings = SizeSettings.from_config(config, "demo", "size")
    assert settings == SizeSettings(chunks=1, unit=100, audio_rate=11025)
    layout = Layout(str(tmp_path))
    wav = Path(layout.audio("demo", "cello", "a"))
    wav.parent.mkdir(parents=True)
    wav.write_bytes(b"x" * 1234)
    videos = [Video("cello", "a", ""), Video("cello", "b", "")]
    table = tmp_path / "size-000.json"

    def run(job_settings):
        job = StageJob(layout, "demo", job_settings)
        return run_batch("size", SIZE.steps(job, videos), table)

    first = run(settings)
    assert [(r["status"], r["reason"]) for r in first] == [("ok", ""), ("failed", "no audio")]
    assert first[0]["info"]["size"] == "12" and read_table(table) == first
    assert run(settings) == first  # kept: same inputs, files there
    coarser = run(dataclasses.replace(settings, unit=1000))
    assert coarser[0]["info"]["size"] == "1"


def test_the_stage_command_runs_a_registered_stage(tmp_path, media):
    """What the template rule runs: the audio stage over a chunk, settings as JSON."""
    data = tmp_path / "data"
    table = data / "demo" / "videos.tsv"
    columns = ["class", "vid", "url", "label", "start", "end", "problem"]
    row = {"class": "cello", "vid": "good", "url": media["good"].as_uri(), "label": "cello"}
    write_tsv(table, columns, [row | {"start": "", "end": "", "problem": ""}])
    download = json.loads(
        STAGES["download"].settings.from_config(CONFIG, "demo", "download").to_json()
    )
    common = ["--data", str(data), "--dataset", "demo", "--chunk", "0", "--videos", str(table)]
    records = data / "demo" / "records"
    stage_cli.main(
        ["download", *common, "--settings", json.dumps(download | {"chunks": 1})]
        + ["--table", str(records / "download-000.json")]
    )
    audio = STAGES["audio"].settings.from_config(CONFIG, "demo", "audio")
    (record,) = stage_cli.main(
        ["audio", *common, "--settings", audio.to_json()]
        + ["--upstream", str(records / "download-000.json")]
        + ["--table", str(records / "audio-000.json")]
    )
    assert record["status"] == "ok" and record["made_from"]["audio_rate"] == 11025
    assert Path(Layout(str(data)).audio("demo", "cello", "good")).is_file()
    with pytest.raises(SystemExit, match="--settings: .*unexpected keyword argument 'rate'"):
        stage_cli.main(
            ["audio", *common, "--settings", json.dumps(json.loads(audio.to_json()) | {"rate": 1})]
            + ["--table", str(records / "audio-000.json")]
        )


def test_motion_at_its_own_rate_decodes_the_video(tmp_path, media):
    """A motion block frame_rate above the dataset's: the stage decodes the video itself at
    that rate, and windows of window_frames give tokens of their own stretch."""
    layout = Layout(str(tmp_path / "data"))
    video = Video("cello", "good", media["good"].as_uri())
    records = {}
    for name in ("download", "audio", "frames", "motion"):
        settings = STAGES[name].settings.from_config(CONFIG, "demo", name, CLASSES)
        if name == "motion":
            settings = dataclasses.replace(
                settings, weights=None, frame_rate=4.0, window_frames=8, resize_short=32
            )
        job = StageJob(layout, "demo", settings)
        upstream = {("cello", "good"): records[STAGES[name].reads]} if STAGES[name].reads else None
        table = layout.chunk_table("demo", name, 0)
        (records[name],) = run_batch(name, STAGES[name].steps(job, [video], upstream), table)
        assert records[name]["status"] == "ok", records[name]
    from iquery.pipeline.motion.tokens import load_tokens

    tokens = load_tokens(layout.motion("demo", "cello", "good"))
    assert records["frames"]["info"]["count"] == 8  # the dataset's 1 fps
    assert tokens.frame_rate == 4.0 and tokens.num_frames == 32  # 8 s at 4 fps
    # A token a window of 8 frames (the I3D's temporal stride): 2 s each.
    assert tokens.spans.tolist() == [[float(s), float(s + 2)] for s in range(0, 8, 2)]
    assert records["motion"]["made_from"]["extractor"]["window_frames"] == 8
