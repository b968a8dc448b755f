"""What a per-video stage is, declared once: its settings, its output, its work for one video.

A stage (download, audio, frames, detect, motion) is a ``Stage``: the typed settings its results
depend on (a dataclass whose fields are config keys, spelled as in config.yaml), the layout kind
of the file or folder it makes per video (``iquery.pipeline.core.layout.VIDEO_FILES``), the
stage whose records it reads, what each video's result is ``made_from`` and the ``work`` that
makes it. Everything else is written once, here and in ``iquery.pipeline.stages.batches``:
which videos a chunk job handles, the step per video, records, kept results, and the two kinds
of failure (a fact about a video is recorded; a fault of the machine or the network fails the
job). The registry (``iquery.pipeline.stages.registry``) lists the stages; the workflow's
template rule (``rules/per_video.smk``) and the command ``python -m iquery.cli.stage`` run any
of them, and ``separate`` runs the same work functions on one video.

Settings reach a stage as one object: the stage's config block (after the dataset's overrides),
plus the dataset keys its fields name (``dataset_key``), the index's class order
(``index_key``), a top-level key (``top_key``) or another stage's settings (``stage_key``).
"""

from __future__ import annotations

import dataclasses
import json
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from iquery.pipeline.core.errors import ConfigError
from iquery.pipeline.core.layout import Layout
from iquery.pipeline.datasets.copies import Copy
from iquery.pipeline.stages.batches import Step

# Where a settings field comes from (field metadata "source"); the block is the default.
BLOCK, DATASET, TOP, INDEX, STAGE = "block", "dataset", "top", "index", "stage"
# Which videos a stage handles: every listed one (before the splits), or the ones the splits use.
LISTED, USED = "listed", "used"


def dataset_key(default: Any = dataclasses.MISSING, *, block_first: bool = False) -> Any:
    """A field read from the dataset's entry, ``datasets.<name>.<field>``; with ``block_first``,
    the stage block's key of the same name wins where it is not null (motion's own frame rate)."""
    return field(default=default, metadata={"source": DATASET, "block_first": block_first})


def top_key() -> Any:
    """A field read from config's top level (``seed``, say)."""
    return field(metadata={"source": TOP})


def index_key() -> Any:
    """The dataset's class order, as its index gives it (the query index)."""
    return field(metadata={"source": INDEX})


def stage_key(when: str) -> Any:
    """Another stage's settings (the field names the stage), where dataset key ``when`` is on;
    None where it is off."""
    return field(default=None, metadata={"source": STAGE, "when": when})


@dataclass(frozen=True, kw_only=True)
class StageSettings:
    """Base of every stage's settings: the block's ``chunks`` (jobs its videos are dealt to)."""

    chunks: int

    @classmethod
    def from_config(
        cls, config: dict, name: str, stage: str, classes: list[str] | None = None
    ) -> StageSettings:
        """The settings of ``stage`` for dataset ``name``, from a validated config."""
        dataset = config["datasets"][name]
        block = block_config(config, name, stage)
        values = {}
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            source = f.metadata.get("source", BLOCK)
            if source == BLOCK:
                if f.name in block:
                    values[f.name] = block[f.name]
            elif source == DATASET:
                if f.metadata["block_first"] and block.get(f.name) is not None:
                    values[f.name] = block[f.name]
                elif f.name in dataset:
                    values[f.name] = dataset[f.name]
            elif source == TOP:
                values[f.name] = config[f.name]
            elif source == INDEX:
                values[f.name] = list(classes or [])
            elif dataset.get(f.metadata["when"]):
                kind = _dataclass_of(hints[f.name])
                values[f.name] = kind.from_config(config, name, f.name, classes)
        try:
            return cls(**values)
        except TypeError as err:
            raise ConfigError(f"config block {stage} of dataset {name}: {err}") from None

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | dict) -> StageSettings:
        values = json.loads(text) if isinstance(text, str) else dict(text)
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            kind = _dataclass_of(hints[f.name])
            if kind is not None and values.get(f.name) is not None:
                values[f.name] = kind.from_json(values[f.name])
        try:
            return cls(**values)
        except TypeError as err:
            raise ConfigError(f"{cls.__name__}: {err}") from None


def _dataclass_of(hint: Any) -> type | None:
    """The dataclass a field holds (``MotionSettings | None``: MotionSettings), if any."""
    for kind in (hint, *typing.get_args(hint)):
        if isinstance(kind, type) and dataclasses.is_dataclass(kind):
            return kind
    return None


def block_config(config: dict, name: str, stage: str) -> dict:
    """Config block ``stage`` as dataset ``name`` uses it: the block, with what the dataset's
    ``overrides.<stage>`` sets (the demo's cheaper motion and crops, say)."""
    given = config["datasets"][name].get("overrides", {}).get(stage, {})
    return config[stage] | given


@dataclass
class StageJob:
    """One chunk job of a stage: the dataset, its settings, and what the job was given."""

    layout: Layout
    dataset: str
    settings: Any
    copy: Copy | None = None
    offline: bool = False
    device: str | None = None
    threads: int = 1
    _tool: list = field(default_factory=list, repr=False)

    def tool(self, make: Callable[[StageJob], Any]) -> Any:
        """``make(job)`` built on first use only: a network is loaded once per job, and not at
        all when every video of the chunk is kept or copied."""
        if not self._tool:
            self._tool.append(make(self))
        return self._tool[0]


@dataclass(frozen=True)
class Stage:
    """A per-video stage.

    ``output``: the layout kind of what it makes per video (``VIDEO_FILES``), None for none
    (download: the video's own file is its output, see its ``outputs``). ``reads``: the stage
    whose records it starts from (a video that stage did not accept is skipped). ``made_from``
    and ``work`` take (job, video, upstream record or None): ``made_from`` returns everything the
    result depends on, ``work`` makes the files and returns facts for the record, raising
    MediaError for a video it must refuse. ``uses_gpu(settings)``: whether a job would use one.
    """

    name: str
    settings: type[StageSettings]
    videos: str
    made_from: Callable[[StageJob, Any, dict | None], dict]
    work: Callable[[StageJob, Any, dict | None], dict]
    output: str | None = None
    reads: str | None = None
    outputs: Callable[[StageJob, Any], tuple[Path, ...]] | None = None
    env: str = "preprocess"
    threads: int = 1
    mem_mb: int = 1000
    runtime_min: int = 120
    network: bool = False
    uses_gpu: Callable[[Any], bool] = lambda settings: False

    @property
    def reads_index(self) -> bool:
        """Whether its settings hold the index's class order (the job then reads the index)."""
        fields = dataclasses.fields(self.settings)
        return any(f.metadata.get("source") == INDEX for f in fields)

    def files(self, job: StageJob, video: Any) -> tuple[Path, ...]:
        """The files the video's result is: its layout kind's, or what ``outputs`` says."""
        if self.outputs is not None:
            return self.outputs(job, video)
        if self.output is None:
            return ()
        return (Path(job.layout.stage_file(job.dataset, self.output, video.cls, video.vid)),)

    def steps(self, job: StageJob, videos: list, upstream: dict | None = None) -> list[Step]:
        """Each video's step (``batches.run_batch`` runs them)."""
        steps = []
        for video in videos:
            before = upstream[(video.cls, video.vid)] if self.reads else None
            steps.append(
                Step(
                    video.cls,
                    video.vid,
                    Path(job.layout.record(job.dataset, self.name, video.cls, video.vid)),
                    self.made_from(job, video, before),
                    lambda video=video, before=before: self.work(job, video, before),
                    outputs=self.files(job, video),
                    upstream=before,
                )
            )
        return steps
