"""Readers for the dataset indexes: MUSIC-style JSON, the paper's split CSVs, AVE's annotations.

Every reader validates what it reads (ids, URLs, labels) and raises ``IndexFormatError`` naming
the file and the line or key at fault. Nothing here touches the network or a shell.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

from iquery.pipeline.core.errors import IndexFormatError, InvalidEntry
from iquery.pipeline.core.ids import class_dir, parse_entry, unusable_vid

# AVE's Annotations.txt uses AudioSet-style category names; the paper's split CSVs use these
# short folder names. Explicit, because no rule derives one from the other ("Food" = frying).
AVE_CLASS_DIRS = {
    "Accordion": "Accordion",
    "Acoustic guitar": "Acoustic_guitar",
    "Baby cry, infant cry": "Baby",
    "Banjo": "Banjo",
    "Bark": "Bark",
    "Bus": "Bus",
    "Cat": "Cat",
    "Chainsaw": "Chainsaw",
    "Church bell": "Church_bell",
    "Clock": "Clock",
    "Female speech, woman speaking": "Female",
    "Fixed-wing aircraft, airplane": "Aircraft",
    "Flute": "Flute",
    "Frying (food)": "Food",
    "Goat": "Goat",
    "Helicopter": "Helicopter",
    "Horse": "Horse",
    "Male speech, man speaking": "Male",
    "Mandolin": "Mandolin",
    "Motorcycle": "Motorcycle",
    "Race car, auto racing": "Race_car",
    "Rodents, rats, mice": "Rodent",
    "Shofar": "Shofar",
    "Toilet flush": "Toilet",
    "Train horn": "Train",
    "Truck": "Truck",
    "Ukulele": "Ukulele",
    "Violin, fiddle": "Violin",
}


@dataclass(frozen=True)
class Video:
    """One video of a dataset: its class folder, its on-disk id and where to fetch it."""

    cls: str
    vid: str
    url: str
    label: str = ""
    segment: tuple[float, float] | None = None  # seconds, for AVE's annotated event
    problem: str = ""  # why the index entry is unusable (recorded, the video is left out)

    @property
    def key(self) -> str:
        return f"{self.cls}/{self.vid}"


def read_video_json(path: str | Path) -> list[Video]:
    """A MUSIC-style index ``{"videos": {label: [YouTube id or URL, ...]}}``.

    A label that cannot be a folder name refuses the file. An entry that is neither a YouTube id
    nor a URL, or a video already listed under another label, becomes a video with its problem:
    the download stage records it as left out, and the other videos go on.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError as err:
        raise IndexFormatError(f"{path}: index file not found") from err
    except json.JSONDecodeError as err:
        raise IndexFormatError(f"{path}: not valid JSON ({err})") from err
    if not isinstance(data, dict) or not isinstance(data.get("videos"), dict):
        raise IndexFormatError(f'{path}: expected an object with a "videos" key (MUSIC format)')
    videos: list[Video] = []
    seen: dict[str, str] = {}  # class/vid -> URL
    labelled: dict[str, str] = {}  # URL -> the label it was first listed under
    for label, entries in data["videos"].items():
        where = f'{path}: videos["{label}"]'
        if not isinstance(entries, list):
            raise IndexFormatError(f"{where} must be a list of YouTube ids or URLs")
        try:
            folder = class_dir(label, where)
        except InvalidEntry as err:
            raise IndexFormatError(str(err)) from err
        for n, entry in enumerate(entries):
            try:
                vid, url = parse_entry(entry, f"{where}[{n}]")
            except InvalidEntry as err:
                videos.append(Video(folder, unusable_vid(entry), "", label, problem=str(err)))
                continue
            key = f"{folder}/{vid}"
            if seen.get(key) == url:
                continue  # the same video listed twice under one label: harmless
            if key in seen:
                raise IndexFormatError(
                    f"{where}[{n}]: {url!r} and {seen[key]!r} map to the same id {vid!r}"
                )
            seen[key] = url
            problem = ""
            if labelled.setdefault(url, label) != label:
                problem = (
                    f"{where}[{n}]: the same video is listed under {labelled[url]!r}; "
                    "a video has one class"
                )
            videos.append(Video(folder, vid, url, label, problem=problem))
    if not videos:
        raise IndexFormatError(f"{path}: the index lists no videos")
    return videos


def _split_path_column(cell: str, where: str) -> tuple[str, str]:
    """'/<class>/<id>.wav' → (class folder, id)."""
    parts = cell.strip().strip("/").split("/")
    if len(parts) != 2 or "." not in parts[1]:
        raise IndexFormatError(f"{where}: expected '/<class>/<id>.wav', got {cell!r}")
    folder, name = parts
    vid = name.rsplit(".", 1)[0]
    try:
        if class_dir(folder, where) != folder:
            raise InvalidEntry(f"{where}: class folder {folder!r} is not a folder name")
        parse_entry(vid, where)
    except InvalidEntry as err:
        raise IndexFormatError(str(err)) from err
    return folder, vid


def _csv_rows(path: Path, what: str, columns: int, meaning: str):
    """(line number, row) of a comma-separated list, skipping blank lines; checks the width."""
    if not path.is_file():
        raise IndexFormatError(f"{path}: {what} file not found")
    with path.open(newline="") as f:
        for n, row in enumerate(csv.reader(f), 1):
            if not row or not "".join(row).strip():
                continue
            if len(row) != columns:
                raise IndexFormatError(f"{path}: line {n}: expected {columns} columns ({meaning})")
            yield f"{path}: line {n}", row


def read_split_csv(path: str | Path) -> list[tuple[str, str]]:
    """The paper's train/test list: rows '/<cls>/<id>.wav,/<cls>/<id>.mp4,<frames>'."""
    rows = _csv_rows(Path(path), "split", 3, "wav, mp4, frames")
    return [_split_path_column(row[0], where) for where, row in rows]


def read_pairs_csv(path: str | Path) -> list[tuple[tuple[str, str], tuple[str, str]]]:
    """The paper's fixed test pairs: rows '/<clsA>/<idA>.wav, /<clsB>/<idB>.wav'."""
    rows = _csv_rows(Path(path), "pair", 2, "two sources")
    return [
        (_split_path_column(row[0], where), _split_path_column(row[1], where))
        for where, row in rows
    ]


def read_ave_annotations(path: str | Path) -> list[Video]:
    """AVE's Annotations.txt: 'Category&VideoID&Quality&StartTime&EndTime' per line."""
    path = Path(path)
    if not path.is_file():
        raise IndexFormatError(f"{path}: annotation file not found")
    videos = []
    seen = set()
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path}: line {n}"
        fields = line.strip().split("&")
        if len(fields) != 5:
            raise IndexFormatError(f"{where}: expected 5 '&'-separated fields")
        category, video_id, _quality, start, end = fields
        if n == 1 and category == "Category":
            continue  # a header row, as in some copies
        if category not in AVE_CLASS_DIRS:
            raise IndexFormatError(f"{where}: unknown AVE category {category!r}")
        try:
            vid, url = parse_entry(video_id, where)
            t0, t1 = float(start), float(end)
        except InvalidEntry as err:
            raise IndexFormatError(str(err)) from err
        except ValueError as err:
            raise IndexFormatError(f"{where}: start/end are not numbers") from err
        folder = AVE_CLASS_DIRS[category]
        if (folder, vid) in seen:
            continue  # AVE annotates a few videos twice in one class; the first segment is kept
        seen.add((folder, vid))
        # One bad row must not stop the dataset: the video is kept with its problem, and the
        # download stage records it as left out.
        problem = "" if 0 <= t0 < t1 else f"{where}: empty event segment {t0:g}..{t1:g}"
        videos.append(Video(folder, vid, url, category, (t0, t1), problem))
    return videos


def restrict_to_splits(
    videos: list[Video], split_rows: dict[str, list[tuple[str, str]]], index_name: str
) -> tuple[list[Video], dict[str, list[tuple[str, str]]]]:
    """Keep the videos the split lists use; check each listed video is in the index.

    Returns the videos and, per split, the rows found in the index (rows missing from the index
    are dropped and counted in the message of a warning the caller may print).
    """
    by_key = {(v.cls, v.vid): v for v in videos}
    by_vid: dict[str, list[Video]] = {}
    for v in videos:
        by_vid.setdefault(v.vid, []).append(v)
    kept: dict[tuple[str, str], Video] = {}
    found: dict[str, list[tuple[str, str]]] = {}
    for split, rows in split_rows.items():
        found[split] = []
        for cls, vid in rows:
            video = by_key.get((cls, vid))
            if video is None and len(by_vid.get(vid, [])) == 1:
                other = by_vid[vid][0]
                raise IndexFormatError(
                    f"{index_name}: split {split!r} lists {cls}/{vid} but the index labels it "
                    f"{other.cls!r}; class labels come from the index, fix one of the two"
                )
            if video is None:
                continue
            kept[(cls, vid)] = video
            found[split].append((cls, vid))
    ordered = [v for v in videos if (v.cls, v.vid) in kept]
    return ordered, found
