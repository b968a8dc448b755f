"""The stage registry is the one list of per-video stages; every place that must name a stage
agrees with it (``iquery/pipeline/stages/registry.py`` lists them)."""

import re

import yaml

from iquery.pipeline.core.layout import FEATURE_STAGES, VIDEO_FILES, VIDEO_STAGES
from iquery.pipeline.stages.recipe import RECIPE_STAGES
from iquery.pipeline.stages.registry import STAGES
from tests.conftest import REPO


def test_every_place_that_names_a_stage_agrees_with_the_registry():
    names = list(STAGES)
    assert list(VIDEO_STAGES + FEATURE_STAGES) == names, "layout.py: VIDEO_/FEATURE_STAGES"
    assert set(VIDEO_FILES) == set(names) - {"download"}, "layout.py: VIDEO_FILES"
    assert list(RECIPE_STAGES) == names[1:], "recipe.py: RECIPE_STAGES"
    rules = (REPO / "rules" / "per_video.smk").read_text()
    assert re.findall(r"^use rule chunk_stage as (\w+)", rules, re.M) == names
    manifest = (REPO / "rules" / "manifest.smk").read_text()
    assert re.findall(r'^\s+(\w+)=tables\("(\w+)"\)', manifest, re.M) == [
        (s, s) for s in VIDEO_STAGES
    ]
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    schema = yaml.safe_load((REPO / "schemas" / "config.schema.yaml").read_text())
    for name in names:
        assert name in config and name in schema["properties"], f"config block {name}"


# Other spellings that the config's dataset keys once had on their way to records and shards.
RENAMED = {
    "audio_rate": "rate",
    "frame_rate": "fps",
    "detections_class_offset": "class_offset",
    "detector": "backend",
}


def _keys(value, found: set) -> set:
    if isinstance(value, dict):
        for key, item in value.items():
            found.add(key)
            _keys(item, found)
    elif isinstance(value, list):
        for item in value:
            _keys(item, found)
    return found


def test_a_config_key_keeps_its_name_in_records_manifests_and_shards(tiny_demo):
    """What the stages store of a dataset key (records, the manifest, motion tokens, shard
    attributes, the split index) is spelled as config.yaml spells it, and the recipe a shard
    carries is called the recipe."""
    import json

    import h5py
    import numpy as np

    data = tiny_demo / "data" / "demo"
    stored: set = set()
    records = list((data / "records").rglob("*.json"))
    records.append(data / "shards" / "train.json")
    assert len(records) > 20
    for path in records:
        _keys(json.loads(path.read_text()), stored)
    stored |= set((data / "manifest.tsv").read_text().splitlines()[0].split("\t"))
    stored |= set(np.load(next(data.glob("motion_features/*/*.npz"))).files)
    with h5py.File(data / "shards" / "train-000.h5") as h5:
        stored |= set(h5.attrs)
        h5["videos"].visititems(lambda _, item: stored.update(item.attrs))
        assert "classes" in json.loads(h5.attrs["recipe"])["stages"]["detect"]
    used = {"audio_rate", "frame_rate", "detector"}
    assert used <= stored, used - stored
    assert not stored & set(RENAMED.values()), stored & set(RENAMED.values())
    assert "recipe" in json.loads((data / "shards" / "train.json").read_text())
