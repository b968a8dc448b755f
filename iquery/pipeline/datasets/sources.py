"""A dataset as the workflow sees it: its videos, its split lists and its class order.

Index files given as URLs are fetched once into ``data/{dataset}/index/`` by the workflow's
``fetch_index`` rule (``fetch_url``), never while Snakemake reads the workflow; ``load_dataset``
reads the local files (``index_sources`` says which) and the ``index`` rule writes the result as
``index.json`` and ``videos.tsv``, which ``read_index`` reads back.
"""

from __future__ import annotations

import hashlib
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from iquery.pipeline.core.errors import ConfigError, IndexFormatError, InvalidEntry
from iquery.pipeline.core.files import atomic_path, read_json, read_tsv, write_json, write_tsv
from iquery.pipeline.core.ids import check_vid, class_dir
from iquery.pipeline.core.layout import Layout
from iquery.pipeline.datasets.indexes import (
    Video,
    read_ave_annotations,
    read_pairs_csv,
    read_split_csv,
    read_video_json,
    restrict_to_splits,
)

Pair = tuple[tuple[str, str], tuple[str, str]]


@dataclass
class Dataset:
    name: str
    videos: list[Video]
    classes: list[str]
    split_lists: dict[str, list[tuple[str, str]]] | None = None  # the paper's train/test
    pairs: list[Pair] | None = None  # the paper's fixed test pairs
    sources: dict[str, Path] = field(default_factory=dict)  # key -> local file read

    def video(self, cls: str, vid: str) -> Video:
        try:
            return self._by_key[(cls, vid)]
        except AttributeError:
            self._by_key = {(v.cls, v.vid): v for v in self.videos}
            return self.video(cls, vid)
        except KeyError as err:
            raise KeyError(f"{self.name}: no video {cls}/{vid} in the index") from err


def is_url(text: str) -> bool:
    return urlsplit(text).scheme in ("http", "https")


def fetch_url(
    url: str, dest: Path, *, offline: bool = False, attempts: int = 3, timeout: float = 30.0
) -> Path:
    """Download ``url`` to ``dest`` atomically, with retries; skip if ``dest`` exists.
    ``offline``: never touch the network; a file not cached yet raises ConfigError."""
    if dest.is_file():
        return dest
    if offline:
        raise ConfigError(
            f"offline, and {url} is not cached at {dest}: put a copy there, point the config "
            "key at a local file, or go online (config key offline: false)"
        )
    last: Exception | None = None
    for attempt in range(attempts):
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (http/https only)
                body = response.read()
            with atomic_path(dest) as tmp:
                tmp.write_bytes(body)
            return dest
        except OSError as err:
            last = err
            time.sleep(2**attempt)
    raise ConfigError(
        f"could not fetch {url} ({last}); without network, point the config key at a local copy"
    )


def cache_name(url: str, default: str) -> str:
    """File name a URL is cached under: a short hash of the whole URL (two URLs may end in the
    same name) and the URL's own last part, or ``default`` where it has none."""
    name = Path(urlsplit(url).path).name or default
    digest = hashlib.sha1(url.encode(), usedforsecurity=False).hexdigest()[:8]
    return f"{digest}-{name}"


def index_sources(name: str, config: dict) -> dict[str, tuple[str, Path]]:
    """Config key -> (its value, the local file it is read from) of each index file of dataset
    ``name``: the path itself, or for a URL the file it is fetched to."""
    cfg = config["datasets"][name]
    cache = Path(Layout(**config["paths"]).index_cache(name))
    sources = {}
    for group in ("index", "splits"):
        for item, value in (cfg.get(group) or {}).items():
            local = (
                cache / cache_name(value, "index") if is_url(value) else Path(value).expanduser()
            )
            sources[f"datasets.{name}.{group}.{item}"] = (value, local)
    return sources


def config_classes(given: list | None, key: str) -> list[str]:
    """Class names from config as the folder names they index (spaces become underscores, as
    in MUSIC's labels); anything that could not be a folder name, or reach a shell, is refused."""
    try:
        return [class_dir(name, key) for name in given or []]
    except InvalidEntry as err:
        raise ConfigError(str(err)) from err


def demo_videos(demo_cfg: dict, layout: Layout, name: str) -> list[Video]:
    """The demo's videos are known from its config before it is made (so the DAG is too)."""
    from iquery.pipeline.datasets.demo.naming import demo_video_ids

    ids = demo_video_ids(demo_cfg["classes"], demo_cfg["videos_per_class"])
    return [
        Video(cls, vid, Path(layout.demo_video(name, cls, vid)).resolve().as_uri(), cls)
        for cls, vid in ids
    ]


def load_dataset(name: str, config: dict) -> Dataset:
    """Read the index and split lists of dataset ``name`` from their local files."""
    if name not in config["datasets"]:
        known = ", ".join(sorted(config["datasets"]))
        raise ConfigError(f"dataset {name!r} is not under config key 'datasets' (known: {known})")
    cfg = config["datasets"][name]
    key = f"datasets.{name}"
    layout = Layout(**config["paths"])
    local = index_sources(name, config)
    sources: dict[str, Path] = {}

    def need(group: str, item: str) -> Path:
        where = f"{key}.{group}.{item}"
        if where not in local:
            raise ConfigError(f"config key {where} is required for source {cfg['source']!r}")
        value, path = local[where]
        if not path.is_file():
            fix = "run the workflow, whose fetch_index rule fetches it" if is_url(value) else ""
            raise ConfigError(f"config key {where}: {value!r} not found at {path}; {fix}")
        sources[f"{group}.{item}"] = path
        return path

    if cfg["source"] == "demo":
        videos = demo_videos(config["demo"], layout, name)
    elif cfg["source"] == "music_json":
        videos = read_video_json(need("index", "videos"))
    elif cfg["source"] == "ave_annotations":
        videos = read_ave_annotations(need("index", "annotations"))
    else:  # the schema stops this earlier; kept for callers that skip validation
        raise ConfigError(f"config key {key}.source: unknown source {cfg['source']!r}")

    split_lists = pairs = None
    if cfg.get("splits"):
        split_lists = {s: read_split_csv(need("splits", s)) for s in ("train", "test")}
        pairs = read_pairs_csv(need("splits", "pairs"))
        videos, split_lists = restrict_to_splits(videos, split_lists, f"{key}.index")

    labels = sorted({v.cls for v in videos})
    classes = config_classes(cfg.get("classes"), f"config key {key}.classes") or labels
    unknown = sorted(set(labels) - set(classes))
    if unknown:
        raise ConfigError(f"config key {key}.classes lacks classes the index uses: {unknown}")
    if not videos:
        raise IndexFormatError(f"{key}: no videos left after reading the index and split lists")
    return Dataset(name, videos, classes, split_lists, pairs, sources)


VIDEO_COLUMNS = ["class", "vid", "url", "label", "start", "end", "problem"]


def write_normalised_index(dataset: Dataset, json_path: str | Path, tsv_path: str | Path) -> None:
    """index.json (MUSIC style, with the class order) and videos.tsv (one row a video)."""
    videos: dict[str, list[str]] = {}
    for v in dataset.videos:
        videos.setdefault(v.cls, []).append(v.url)
    write_json(
        json_path,
        {"version": 1, "dataset": dataset.name, "classes": dataset.classes, "videos": videos},
    )
    rows = []
    for v in dataset.videos:
        start, end = v.segment or ("", "")
        values = (v.cls, v.vid, v.url, v.label, start, end, v.problem)
        rows.append(dict(zip(VIDEO_COLUMNS, values, strict=True)))
    write_tsv(tsv_path, VIDEO_COLUMNS, rows)


def read_videos_table(path: str | Path) -> list[Video]:
    """The videos of a ``videos.tsv`` (``write_normalised_index``), ids checked again."""
    videos = []
    for n, row in enumerate(read_tsv(path), start=2):
        where = f"{path} line {n}"
        try:
            cls, vid = class_dir(row["class"], where), check_vid(row["vid"], where)
        except (KeyError, InvalidEntry) as err:
            raise IndexFormatError(f"{where}: {err}; delete the file and rerun") from err
        segment = (float(row["start"]), float(row["end"])) if row["start"] else None
        videos.append(Video(cls, vid, row["url"], row["label"], segment, row["problem"]))
    return videos


def read_index(json_path: str | Path, tsv_path: str | Path, name: str) -> Dataset:
    """A dataset as the ``index`` rule wrote it: its videos and class order."""
    classes = read_json(json_path, "delete it and rerun: the index rule remakes it")["classes"]
    return Dataset(name, read_videos_table(tsv_path), classes)
