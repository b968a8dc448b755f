"""Detection: instrument boxes per frame, for the videos the splits use. Each video's (K, 7)
rows (``iquery.pipeline.detection.rows``) come from the dataset's copy where it has them (they
were checked against the frames before the splits), otherwise from the dataset's detector,
loaded once per job, and only if some video of the chunk needs it."""

from __future__ import annotations

from dataclasses import dataclass

from iquery.pipeline.detection.backends import FrameFolder, make_detector
from iquery.pipeline.detection.precomputed import import_rows
from iquery.pipeline.detection.rows import save_rows
from iquery.pipeline.stages.batches import file_identity, product
from iquery.pipeline.stages.framework import (
    USED,
    Stage,
    StageJob,
    StageSettings,
    dataset_key,
    index_key,
)


@dataclass(frozen=True, kw_only=True)
class DetectSettings(StageSettings):
    """Config block detect, the dataset's detector and the class order (the query index)."""

    owl_model: str
    threshold: float
    batch_size: int
    detector: str = dataset_key()
    # copied files: file class id minus this = class index; null for class-agnostic files
    detections_class_offset: int | None = dataset_key(default=None)
    classes: list[str] = index_key()

    def result_settings(self) -> dict:
        """What the detector's boxes depend on (not the batch size)."""
        if self.detector == "owl":
            return {"detector": "owl", "model": self.owl_model, "threshold": self.threshold}
        return {"detector": self.detector}


def detector(job: StageJob):
    """The dataset's detector (for ``owl``, a network on the job's device)."""
    s: DetectSettings = job.settings
    return make_detector(
        s.detector,
        classes=s.classes,
        owl_model=s.owl_model,
        threshold=s.threshold,
        batch_size=s.batch_size,
        device=job.device,
    )


def made_from(job: StageJob, v, upstream: dict) -> dict:
    s: DetectSettings = job.settings
    copied = job.copy.detections(v.cls, v.vid) if job.copy else None
    return {
        "frames": product(upstream),
        "detector": None if copied else s.result_settings(),
        "copy": file_identity(copied) if copied else None,
        "detections_class_offset": s.detections_class_offset if copied else None,
        "classes": s.classes,
    }


def work(job: StageJob, v, upstream: dict) -> dict:
    s: DetectSettings = job.settings
    facts = upstream["info"]
    folder = facts["frames"]
    copied = job.copy.detections(v.cls, v.vid) if job.copy else None
    if copied:
        width, height = facts["size"]
        rows = import_rows(
            copied,
            class_offset=s.detections_class_offset,
            n_classes=len(s.classes),
            n_frames=facts["count"],
            width=width,
            height=height,
        )
    else:
        rows = job.tool(detector)(FrameFolder(folder), None)
    out = job.layout.detections(job.dataset, v.cls, v.vid)
    save_rows(out, rows)
    return {
        "detections": str(out),
        "frames": folder,
        "boxes": len(rows),
        "source": "copied" if copied else "detected",
    }


STAGE = Stage(
    "detect",
    DetectSettings,
    USED,
    made_from,
    work,
    output="detect",
    reads="frames",
    env="train",
    threads=2,
    mem_mb=4000,
    uses_gpu=lambda settings: settings.detector == "owl",
)
