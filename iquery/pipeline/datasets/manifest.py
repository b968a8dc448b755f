"""Collect the per-video stage records of a dataset into a manifest and a list of left-outs.

manifest.tsv lists the videos every stage accepted; excluded.tsv lists the others with the
stage that refused each and why (unavailable, no audio track, too short, undecodable, a copied
file that does not fit, ...). availability.tsv says how each listed video was had.
"""

from __future__ import annotations

from collections.abc import Iterable

from iquery.pipeline.core.layout import VIDEO_STAGES
from iquery.pipeline.core.records import FAILED, OK
from iquery.pipeline.datasets.copies import check_lengths

MANIFEST_COLUMNS = [
    "class",
    "vid",
    "seconds",
    "samples",
    "audio_rate",
    "frames",
    "frame_rate",
    "note",
]
EXCLUDED_COLUMNS = ["class", "vid", "stage", "reason"]
AVAILABILITY_COLUMNS = ["class", "vid", "status", "reason"]


def availability(download_records: Iterable[dict]) -> list[dict]:
    """How each listed video was had: downloaded, on disk (put there, or an earlier run's),
    copied (from the dataset's copy), missing (gone, private, offline...), or unusable (its
    index entry), with the reason."""
    rows = []
    for r in download_records:
        if r["status"] == OK:
            status = r["info"].get("source", "downloaded")
        else:
            status = "unusable" if r["made_from"].get("problem") else "missing"
        note = r["reason"] or r["info"].get("note", "")
        rows.append({"class": r["class"], "vid": r["vid"], "status": status, "reason": note})
    return rows


def collect(
    videos: list[dict], records: dict[str, Iterable[dict]]
) -> tuple[list[dict], list[dict]]:
    """(usable, excluded) rows, in the index's order, from each stage's records.

    ``videos`` are the index rows (class, vid); ``records`` maps each of ``VIDEO_STAGES`` to the
    records that stage wrote. A video without a record of some stage is a bug upstream.
    """
    found = {s: {(r["class"], r["vid"]): r for r in records[s]} for s in VIDEO_STAGES}
    usable, excluded = [], []
    for row in videos:
        key = (row["class"], row["vid"])
        missing = [s for s in VIDEO_STAGES if key not in found[s]]
        if missing:
            raise RuntimeError(f"{'/'.join(key)}: no {missing[0]} record; rerun that stage")
        stage_records = {s: found[s][key] for s in VIDEO_STAGES}
        refused = [s for s in VIDEO_STAGES if stage_records[s]["status"] != OK]
        if refused:
            # The stage that failed holds the reason; the stages after it only say "skipped".
            stage = next((s for s in refused if stage_records[s]["status"] == FAILED), refused[0])
            reason = stage_records[stage]["reason"]
            excluded.append({"class": key[0], "vid": key[1], "stage": stage, "reason": reason})
            continue
        audio, frames = stage_records["audio"]["info"], stage_records["frames"]["info"]
        mismatch = check_lengths(audio["seconds"], frames["count"], frames["frame_rate"])
        if mismatch and "copied" in (audio.get("source"), frames.get("source")):
            excluded.append(
                {"class": key[0], "vid": key[1], "stage": "manifest", "reason": mismatch}
            )
            continue
        # Made here from one file, picture and sound may still differ in length (a variable
        # frame rate, phone footage): kept, as clips pair frames and sound by time, and noted.
        note = ""
        if mismatch:
            picture = frames["count"] / frames["frame_rate"]
            note = (
                f"picture {picture:.1f} s, sound {audio['seconds']:.1f} s: clips are taken "
                f"where both are ({min(picture, audio['seconds']):.1f} s)"
            )
        usable.append(
            {
                "class": key[0],
                "vid": key[1],
                "seconds": f"{audio['seconds']:.3f}",
                "samples": audio["samples"],
                "audio_rate": audio["audio_rate"],
                "frames": frames["count"],
                "frame_rate": frames["frame_rate"],
                "note": note,
            }
        )
    return usable, excluded
