# What the rules share: the layout of every artifact (pipeline/layout.py), the datasets, the
# videos each job handles, and the checks of config.yaml that the schema cannot make.
import json
import os
import sys
from collections import Counter
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.settings.types import DeploymentMethod

from model.settings import load_settings, merge
from model.variants import VARIANTS
from pipeline.datasets import cache_name, is_url, load_dataset
from pipeline.demo.naming import demo_video_ids
from pipeline.errors import ConfigError, IndexFormatError
from pipeline.files import read_tsv
from pipeline.ids import SAFE_CLASS_DIR, SAFE_VID
from pipeline.layout import SPLITS, VIDEO_STAGES, Layout, chunk_of, deal_to_shards
from pipeline.splits import read_split

L = Layout(**config["paths"])
# Rules call `python -m workflow_scripts....`: put the interpreter running Snakemake (which has
# the project installed) first on PATH, so `.venv/bin/snakemake` works without activating the
# venv. Under --sdm conda each rule's env supplies its own python instead.
if DeploymentMethod.CONDA not in workflow.deployment_settings.deployment_method:
    os.environ["PATH"] = os.pathsep.join(
        [str(Path(sys.executable).parent), os.getenv("PATH", "")]
    )
# Downloads at once: config key download.concurrent, unless --resources downloads=N is given.
workflow.global_resources.setdefault("downloads", config["download"]["concurrent"])
# Config key offline reaches the download command through the environment, not through its
# params, so that going off- or online does not redo what was already made.
os.environ.update(IQUERY_OFFLINE="1" if config["offline"] else "")


wildcard_constraints:
    dataset=r"[a-z][a-z0-9_]*",
    split="|".join(SPLITS),
    stage="|".join(VIDEO_STAGES),
    cls=SAFE_CLASS_DIR,
    vid=SAFE_VID,
    run=r"[a-z][a-z0-9_]*",
    chunk=r"\d{3}",
    shard=r"\d{3}",


# --- config checks --------------------------------------------------------------------------------


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
        if ds.get("detector") == "precomputed" and not ds.get("detections_dir"):
            raise WorkflowError(
                f"config key datasets.{name}.detector is 'precomputed' but "
                f"datasets.{name}.detections_dir is not set"
            )
    cookies = config["download"]["cookies"]
    if cookies and not Path(cookies).is_file():
        raise WorkflowError(f"config key download.cookies: file {cookies!r} not found")
    demo = config["demo"]
    if demo["min_seconds"] > demo["max_seconds"]:
        raise WorkflowError("config keys demo.min_seconds > demo.max_seconds")
    if config["dataset"] not in config["datasets"]:
        raise WorkflowError(
            f"config key dataset: {config['dataset']!r} is not one of config key datasets "
            f"({', '.join(config['datasets'])})"
        )
    for name in config["datasets"]:
        for run in train_runs(name):
            run_settings(name, run)


# --- datasets and their videos --------------------------------------------------------------------


_loaded = {}


def dataset(name):
    """The dataset's videos and lists, read once per run (fetching index URLs if need be)."""
    if name not in _loaded:
        try:
            _loaded[name] = load_dataset(name, config)
        except (ConfigError, IndexFormatError) as err:
            raise WorkflowError(str(err)) from err
    return _loaded[name]


def ds_config(wildcards):
    return config["datasets"][wildcards.dataset]


def video_of(wildcards):
    return dataset(wildcards.dataset).video(wildcards.cls, wildcards.vid)


def class_list(wildcards):
    """The dataset's class order (the query index); passed to scripts as quoted words."""
    return dataset(wildcards.dataset).classes


def stage_records(name, stage):
    """Every video's record of a per-video stage, in the index's order."""
    return [L.record(name, stage, v.cls, v.vid) for v in dataset(name).videos]


def records(stage):
    """An input function: ``stage_records`` of the wildcards' dataset."""

    def inputs(wildcards):
        return stage_records(wildcards.dataset, stage)

    return inputs


def segment_arg(wildcards):
    """'--segment START:END' for datasets trimmed to an annotated event (AVE), else ''."""
    video = video_of(wildcards)
    if not ds_config(wildcards).get("trim_to_segment") or video.segment is None:
        return ""
    return "--segment {}:{}".format(*video.segment)


def split_videos(name, split):
    """The (class, vid) of a split, known once the splits checkpoint has run."""
    checkpoints.splits.get(dataset=name)
    return read_split(L.split(name, split))


def used_videos(name):
    """Every video a split lists: the ones detection, motion and shards handle."""
    return sorted({key for split in SPLITS for key in split_videos(name, split)})


def per_video(path, videos, made_by=None):
    """An input function: ``path`` (a Layout method) of each video ``videos(wildcards)`` lists.
    ``made_by``: the per-video stage that wrote these media beside its record; a file missing
    since then is named, with the record to delete so that the stage makes it again."""

    def inputs(wildcards):
        name = wildcards.dataset
        listed = videos(wildcards)
        files = [path(name, cls, vid) for cls, vid in listed]
        for (cls, vid), file in zip(listed, files, strict=True):
            if made_by and not Path(file).exists():
                raise WorkflowError(
                    f"{file} is missing though its stage record says it was made: delete "
                    f"{L.record(name, made_by, cls, vid)} and rerun to remake it"
                )
        return files

    return inputs


def frame_folders(videos):
    """An input function: the frame folders of the videos ``videos(wildcards)`` lists."""
    return per_video(L.frames, videos, made_by="frames")


def chunk_members(key):
    """The videos of chunk ``wildcards.chunk`` of stage block ``key`` (detect or motion)."""

    def members(wildcards):
        chunks = config[key]["chunks"]
        return [
            (cls, vid)
            for cls, vid in used_videos(wildcards.dataset)
            if chunk_of(cls, vid, chunks) == int(wildcards.chunk)
        ]

    return members


def chunk_of_video(key, path):
    """The chunk file of stage block ``key`` that holds a video's result."""

    def chunk(wildcards):
        number = chunk_of(wildcards.cls, wildcards.vid, config[key]["chunks"])
        return path(wildcards.dataset, number)

    return chunk


def video_keys(videos):
    return [f"{cls}/{vid}" for cls, vid in videos]


# --- demo -----------------------------------------------------------------------------------------


def demo_ids():
    """(class, vid) of every demo video, from config block demo."""
    try:
        return demo_video_ids(
            config["demo"]["classes"], config["demo"]["videos_per_class"]
        )
    except ValueError as err:
        raise WorkflowError(f"config key demo.classes: {err}") from err


def soundfont(wildcards):
    path = config["demo"]["soundfont"]
    if not Path(path).is_file():
        raise WorkflowError(
            f"config key demo.soundfont: {path!r} not found; install Debian's "
            "timgm6mb-soundfont (setup.sh does) or point the key at a General MIDI .sf2"
        )
    return path


# --- index ----------------------------------------------------------------------------------------


def index_sources(wildcards):
    """The local files the index is read from (URLs are fetched into the index cache)."""
    sources = dataset(wildcards.dataset).sources
    return {key.replace(".", "_"): str(path) for key, path in sources.items()}


def index_config(wildcards):
    """The part of config the index depends on, as JSON: with the whole config here, any change
    (a training key, say) would rebuild the index and so everything after it."""
    ds = ds_config(wildcards)
    keys = ("source", "index", "splits", "classes")
    view = {
        "paths": config["paths"],
        "datasets": {wildcards.dataset: {k: ds[k] for k in keys if k in ds}},
    }
    if ds["source"] == "demo":
        view["demo"] = config["demo"]
    return json.dumps(view, sort_keys=True)


# --- download -------------------------------------------------------------------------------------


def download_inputs(wildcards):
    """The demo's videos must be made before they are 'downloaded'."""
    if ds_config(wildcards)["source"] == "demo":
        return [L.demo_index(wildcards.dataset)]
    return []


def download_options(wildcards):
    video = video_of(wildcards)
    options = []
    if config["download"]["cookies"]:
        options.append(f"--cookies={config['download']['cookies']}")
    if video.problem:
        options.append(f"--invalid={video.problem}")
    return options


# --- audio ----------------------------------------------------------------------------------------


def min_audio_seconds(wildcards):
    given = config["audio"]["min_seconds"]
    ds = ds_config(wildcards)
    return given if given is not None else ds["clip_samples"] / ds["audio_rate"]


# --- manifest -------------------------------------------------------------------------------------


def paper_lists(wildcards):
    """The paper's split lists of this dataset, as local files (none for generated splits)."""
    sources = dataset(wildcards.dataset).sources
    return {
        f"paper_{k.split('.')[1]}": str(p)
        for k, p in sources.items()
        if k.startswith("splits.")
    }


# --- detect ---------------------------------------------------------------------------------------


detect_members = chunk_members("detect")


def precomputed_files(wildcards):
    """The circulating detection files of the chunk's videos (detector `precomputed`)."""
    if ds_config(wildcards)["detector"] != "precomputed":
        return []
    folder = ds_config(wildcards)["detections_dir"]
    return [
        L.circulating_detections(folder, c, v) for c, v in detect_members(wildcards)
    ]


def detect_options(wildcards):
    ds, settings = ds_config(wildcards), config["detect"]
    if ds["detector"] == "owl":
        return [
            f"--model={settings['owl_model']}",
            f"--threshold={settings['threshold']}",
            f"--batch-size={settings['batch_size']}",
        ]
    if ds["detector"] == "precomputed" and ds["detections_class_offset"] is not None:
        return [f"--class-offset={ds['detections_class_offset']}"]
    return []


def true_boxes(wildcards):
    """The demo generator's true boxes of the used videos (none for other datasets)."""
    if ds_config(wildcards)["source"] != "demo":
        return []
    name = wildcards.dataset
    return [L.demo_boxes(name, cls, vid) for cls, vid in used_videos(name)]


# --- motion ---------------------------------------------------------------------------------------


motion_members = chunk_members("motion")


def motion_options(wildcards):
    settings = config["motion"]
    options = []
    if settings["weights"]:
        options.append(f"--weights={settings['weights']}")
    if settings["resize_short"]:
        options.append(f"--resize-short={settings['resize_short']}")
    return options


# --- shards ---------------------------------------------------------------------------------------


def shard_groups(name, split):
    return deal_to_shards(
        split_videos(name, split), config["shards"]["videos_per_shard"]
    )


def shard_members(wildcards):
    groups = shard_groups(wildcards.dataset, wildcards.split)
    if int(wildcards.shard) >= len(groups):
        raise WorkflowError(
            f"{wildcards.dataset} {wildcards.split} has {len(groups)} shards, "
            f"not {int(wildcards.shard) + 1}"
        )
    return groups[int(wildcards.shard)]


def motion_files(wildcards):
    """The shard's videos' motion tokens, for datasets with motion."""
    if not ds_config(wildcards)["motion"]:
        return []
    return per_video(L.motion, shard_members)(wildcards)


def shard_settings(wildcards):
    """What the shards' contents depend on beyond their input files, recorded in them with its
    hash (detection and motion settings reach the shards through the files they change).
    """
    keys = ("audio_rate", "frame_rate", "detector", "box_rule", "motion")
    dataset = {key: ds_config(wildcards).get(key) for key in keys}
    return json.dumps({"dataset": dataset, "shards": config["shards"]}, sort_keys=True)


# --- train ----------------------------------------------------------------------------------------


def train_runs(name):
    """Run name -> its own settings, for dataset ``name`` (config key train.runs; a dataset not
    listed there gets one run, iQuery, without motion where the dataset has none)."""
    runs = config["train"]["runs"].get(name)
    if runs:
        return runs
    motion = config["datasets"][name].get("motion", True)
    return {"iquery": {"variant": "iquery" if motion else "nomotion"}}


def run_settings(name, run):
    """A run's complete settings: the dataset's clip length, config keys seed and
    train.visual_weights, then train.settings.<dataset>, then train.runs.<dataset>.<run>, over
    the defaults of model/settings.py and the variant's own (model/variants.py)."""
    runs = train_runs(name)
    if run not in runs:
        raise WorkflowError(
            f"no run {run!r} for dataset {name}: config key train.runs.{name} lists "
            f"{', '.join(runs)}"
        )
    given = {
        "clip_samples": config["datasets"][name]["clip_samples"],
        "seed": config["seed"],
        "visual_weights": config["train"]["visual_weights"],
    }
    given = merge(merge(given, config["train"]["settings"].get(name, {})), runs[run])
    if "variant" not in given and run in VARIANTS:
        given["variant"] = run
    if "variant" not in given:
        raise WorkflowError(
            f"config key train.runs.{name}.{run}: give its variant ({', '.join(VARIANTS)})"
        )
    try:
        settings = load_settings(given, f"config key train.runs.{name}.{run}")
    except ConfigError as err:
        raise WorkflowError(str(err)) from err
    if settings["visual_weights"]:
        settings["visual_weights"] = weights_file(settings["visual_weights"])
    return settings


def weights_file(source):
    """A weights file as a local path; URLs are fetched into the weights folder by a rule."""
    if not is_url(source):
        if not Path(source).expanduser().is_file():
            raise WorkflowError(f"visual_weights: file {source!r} not found")
        return str(Path(source).expanduser())
    return L.weights(cache_name(source, "weights"))


def weights_url(wildcards):
    """The URL a file in the weights folder is fetched from (a visual_weights value)."""
    train = config["train"]
    blocks = [train, *train["settings"].values()]
    blocks += [own for runs in train["runs"].values() for own in runs.values()]
    for block in blocks:
        source = block.get("visual_weights")
        if (
            source
            and is_url(source)
            and weights_file(source) == L.weights(wildcards.name)
        ):
            return source
    raise WorkflowError(
        f"no visual_weights URL in config gives {L.weights(wildcards.name)}"
    )


def train_inputs(wildcards):
    name, settings = wildcards.dataset, run_settings(wildcards.dataset, wildcards.run)
    select_on = config["train"]["select_on"]
    inputs = {
        "train": L.shard_index(name, "train"),
        "select": L.shard_index(name, select_on),
    }
    if select_on == "test":
        inputs["pairs"] = L.test_pairs(name)
    if settings["visual_weights"]:
        inputs["weights"] = settings["visual_weights"]
    return inputs


# --- evaluate -------------------------------------------------------------------------------------


def report_inputs(wildcards):
    """Every run of the dataset, evaluated: the report compares them."""
    main = L.run(wildcards.dataset, wildcards.run)
    inputs = {"examples": main.examples}
    for run in train_runs(wildcards.dataset):
        folder = L.run(wildcards.dataset, run)
        inputs |= {
            f"{run}_{k}": getattr(folder, k) for k in ("metrics", "per_pair", "summary")
        }
    return inputs


# --- what the dataset targets ask for -------------------------------------------------------------


def video_results(name):
    """Every per-video file of a dataset: each listed video's stage records, and each used
    video's detection and motion files. Every target of a dataset asks for them, so that one
    deleted (to redo that video's stage, say) is made again: Snakemake does not remake a
    deleted intermediate file by itself. A function: the used videos are known once the
    splits checkpoint has run."""

    def inputs(wildcards):
        files = [f for stage in VIDEO_STAGES for f in stage_records(name, stage)]
        for cls, vid in used_videos(name):
            files.append(L.detections(name, cls, vid))
            if config["datasets"][name]["motion"]:
                files.append(L.motion(name, cls, vid))
        return files

    return inputs


def preprocessed(name):
    """Everything up to the shards of dataset ``name``."""
    return [L.shard_index(name, split) for split in SPLITS] + [
        L.detection_summary(name)
    ]


def report_left_out():
    """At the end of a run: each dataset's availability counts and how many videos were left
    out, with the files that list them."""
    for name in _loaded:
        available, excluded = Path(L.availability(name)), Path(L.excluded(name))
        if available.is_file():
            counts = Counter(row["status"] for row in read_tsv(available))
            listed = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
            print(
                f"{name}: {sum(counts.values())} videos listed: {listed} ({available})"
            )
        if excluded.is_file():
            count = len(read_tsv(excluded))
            if count:
                print(
                    f"{name}: {count} videos left out; reasons in {excluded}",
                    file=sys.stderr,
                )


def trained(name, run=None):
    """What a train_<dataset> target asks for: a run's summary (default: the dataset's first)."""
    run = run or next(iter(train_runs(name)))
    return [L.run(name, run).summary, L.detection_summary(name)]


def evaluated(name):
    """What an evaluate_<dataset> target asks for: the first run's report, comparing them all."""
    return [L.run(name, next(iter(train_runs(name)))).report, L.detection_summary(name)]
