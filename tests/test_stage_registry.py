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
