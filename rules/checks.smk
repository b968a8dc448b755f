# What config.yaml's schema cannot check: local files exist, keys agree, every dataset's
# overrides and every run's settings. Called once, when the workflow starts (Snakefile).
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from iquery.pipeline.core.errors import ConfigError
from iquery.pipeline.core.layout import STUDIES
from iquery.pipeline.datasets.copies import open_copy


def check_config():
    """What the schema cannot check: local files exist, keys agree, every run's settings."""
    for name, ds in config["datasets"].items():
        for group in ("index", "splits"):
            for key, value in (ds.get(group) or {}).items():
                if "://" not in value and not Path(value).expanduser().is_file():
                    raise WorkflowError(
                        f"config key datasets.{name}.{group}.{key}: file {value!r} not found; "
                        "give an existing path or the public URL"
                    )
        copy = ds.get("copy")
        try:  # a missing folder, or a copy unpacked one level too deep
            open_copy(copy, f"datasets.{name}.copy")
        except ConfigError as err:
            raise WorkflowError(str(err)) from None
        if ds.get("detector") == "precomputed" and not copy:
            raise WorkflowError(
                f"config key datasets.{name}.detector is 'precomputed' but "
                f"datasets.{name}.copy is not set: it must hold detection_results/"
            )
    for name in config["datasets"]:
        check_overrides(name)
        cookies = stage_config(name, "download")["cookies"]
        if cookies and not Path(cookies).is_file():
            key = (
                f"datasets.{name}.overrides.download.cookies"
                if cookies != config["download"]["cookies"]
                else "download.cookies"
            )
            raise WorkflowError(f"config key {key}: file {cookies!r} not found")
    demo = config["demo"]
    if demo["min_seconds"] > demo["max_seconds"]:
        raise WorkflowError("config keys demo.min_seconds > demo.max_seconds")
    if config["dataset"] not in config["datasets"]:
        raise WorkflowError(
            f"config key dataset: {config['dataset']!r} is not one of config key datasets "
            f"({', '.join(config['datasets'])})"
        )
    for study in STUDIES:
        try:
            train_seeds(study)
        except ConfigError as err:
            raise WorkflowError(str(err)) from err
    for name in config["datasets"]:
        for run in train_runs(name):
            if run in STUDIES:
                raise WorkflowError(
                    f"config key train.runs.{name}.{run}: {run!r} names a comparison's "
                    "folder; give the run another name"
                )
            run_settings(name, run)


# Stage keys that hold for the whole workflow (a shared resource), so no dataset overrides them.
WORKFLOW_WIDE = {"download": {"concurrent"}}


def check_overrides(name):
    """A dataset's stage overrides name keys of their block, and the block they make passes
    the schema."""
    overrides = config["datasets"][name].get("overrides", {})
    for stage, given in overrides.items():
        unknown = sorted(set(given) - set(config[stage]))
        if unknown:
            raise WorkflowError(
                f"config key datasets.{name}.overrides.{stage}: unknown key(s) {unknown}; "
                f"block {stage} has {', '.join(config[stage])}"
            )
        whole = sorted(set(given) & WORKFLOW_WIDE.get(stage, set()))
        if whole:
            raise WorkflowError(
                f"config key datasets.{name}.overrides.{stage}: {whole} hold for the whole "
                f"workflow, not per dataset; set them in block {stage}"
            )
    if overrides:
        merged = config | {stage: stage_config(name, stage) for stage in overrides}
        try:
            validate(merged, str(Path(workflow.basedir) / "schemas/config.schema.yaml"))
        except WorkflowError as err:
            raise WorkflowError(
                f"config key datasets.{name}.overrides: {err}"
            ) from None
