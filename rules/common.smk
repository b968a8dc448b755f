# What the rules share: the layout of every artifact (iquery/pipeline/core/layout.py), the
# datasets, the videos each job handles, and the checks of config.yaml the schema cannot make.
import functools
import glob
import json
import os
import sys
from collections import Counter
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate
from snakemake.settings.types import DeploymentMethod

from iquery.model.settings import TRAINED_ON_CROPS
from iquery.model.settings import run_settings as config_run_settings
from iquery.model.settings import train_runs as config_train_runs
from iquery.model.settings import train_seeds as config_train_seeds
from iquery.pipeline.stages.batches import chunk_count, chunk_holding, deal, read_tables
from iquery.pipeline.datasets.copies import open_copy
from iquery.pipeline.stages.framework import USED, block_config
from iquery.pipeline.stages.recipe import recipe
from iquery.pipeline.stages.registry import STAGES
from iquery.pipeline.datasets.sources import (
    cache_name,
    index_sources,
    is_url,
    read_index,
)
from iquery.pipeline.datasets.demo.naming import demo_video_ids
from iquery.pipeline.core.errors import ConfigError, IndexFormatError, InvalidEntry
from iquery.pipeline.core.files import read_tsv
from iquery.pipeline.cluster.gpu_slots import visible_gpus
from iquery.pipeline.core.ids import SAFE_CLASS_DIR, SAFE_VID, video_name
from iquery.pipeline.core.layout import SPLITS, STUDIES, Layout, deal_to_shards
from iquery.pipeline.core.records import missing_file_message
from iquery.pipeline.datasets.splits import read_split
from iquery.pipeline.datasets.splits import used_videos as read_used_videos

L = Layout(**config["paths"])
# Rules call `python -m iquery.cli....`: put the interpreter running Snakemake (which has
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
# Jobs sharing this machine's GPUs each lock the ones they take (iquery/pipeline/cluster/gpu_slots.py); on one
# machine, the GPUs they claim at once are at most the GPUs it has, unless --resources gpu=N.
# Not with --jobs (a cluster: its scheduler places GPUs; the executor is not known yet while
# the Snakefile is read, and a bound from the submitting host would cap every job's request).
os.environ.setdefault("IQUERY_GPU_LOCKS", str(Path(".snakemake/gpu-locks").resolve()))
if (
    workflow.global_resources["_nodes"].value is None
    and "gpu" not in workflow.global_resources
):
    if gpu_count := visible_gpus():
        workflow.global_resources["gpu"] = gpu_count


wildcard_constraints:
    dataset=r"[a-z][a-z0-9_]*",
    split="|".join(SPLITS),
    cls=SAFE_CLASS_DIR,
    vid=SAFE_VID,
    run=r"[a-z][a-z0-9_]*",
    seed=r"\d+",
    chunk=r"\d{3}",
    shard=r"\d{3}",
    name=r"[0-9a-f]{8}-[^/]+",
    title=SAFE_VID,


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


# --- datasets and their videos --------------------------------------------------------------------


_loaded = {}


def dataset(name):
    """The dataset's videos and class order, as the index checkpoint wrote them (read once per
    version of its videos.tsv)."""
    checkpoints.index.get(dataset=name)
    table = Path(L.videos_table(name))
    key = (name, table.stat().st_mtime_ns)
    if key not in _loaded:
        try:
            _loaded[key] = read_index(L.index_json(name), table, name)
        except (IndexFormatError, ValueError) as err:
            raise WorkflowError(str(err)) from err
    return _loaded[key]


def ds_config(wildcards):
    return config["datasets"][wildcards.dataset]


def stage_config(name, stage):
    """Config block ``stage`` as dataset ``name`` uses it (with the dataset's overrides)."""
    return block_config(config, name, stage)


def stage_setting(stage, key):
    """A params function: key ``key`` of block ``stage`` for the wildcards' dataset."""
    return lambda wildcards: stage_config(wildcards.dataset, stage)[key]


def class_list(wildcards):
    """The dataset's class order (the query index); passed to scripts as quoted words."""
    return dataset(wildcards.dataset).classes


def split_videos(name, split):
    """The (class, vid) of a split, known once the splits checkpoint has run."""
    checkpoints.splits.get(dataset=name)
    return read_split(L.split(name, split))


def used_videos(name):
    """Every video a split lists: the ones detection, motion and shards handle."""
    checkpoints.splits.get(dataset=name)
    return read_used_videos([L.split(name, split) for split in SPLITS])


def copy_option(wildcards):
    """'--copy=FOLDER' where the dataset has a copy (config key datasets.<name>.copy)."""
    copy = ds_config(wildcards).get("copy")
    if not copy:
        return []
    key = f"datasets.{wildcards.dataset}.copy"
    return [f"--copy={Path(copy).expanduser()}", f"--copy-key={key}"]


# --- per-video stages, in chunks ------------------------------------------------------------------


def stage_videos(name, stage):
    """The videos a per-video stage handles: every listed one before the splits, the used
    ones after."""
    if STAGES[stage].videos == USED:
        return used_videos(name)
    return dataset(name).videos


def chunk_tables(name, stage):
    """The chunk tables of a per-video stage: its jobs' outputs (config key <stage>.chunks)."""
    count = chunk_count(
        len(stage_videos(name, stage)), stage_config(name, stage)["chunks"]
    )
    return [L.chunk_table(name, stage, k) for k in range(count)]


def tables(stage):
    """An input function: ``chunk_tables`` of the wildcards' dataset."""

    def inputs(wildcards):
        return chunk_tables(wildcards.dataset, stage)

    return inputs


def stage_inputs(wildcards):
    """A chunk job's inputs: the videos it may handle (videos.tsv, or the split lists), the
    tables of the stage it reads holding its videos, and the index where it reads the class
    order."""
    name, stage = wildcards.dataset, STAGES[wildcards.stage]
    if stage.videos == USED:
        videos = [L.split(name, split) for split in SPLITS]
    else:
        videos = [L.videos_table(name)]
    inputs = {"videos": videos, "upstream": []}
    if stage.reads:
        inputs["upstream"] = upstream_tables(wildcards, stage)
    if stage.reads_index:
        inputs["index"] = L.index_json(name)
    return inputs


def upstream_tables(wildcards, stage):
    """The tables of the stage ``stage`` reads that hold chunk wildcards.chunk's videos: after
    the splits, all of them; before, the ones holding its videos (one, when both stages have
    the same number of chunks)."""
    name, chunk = wildcards.dataset, int(wildcards.chunk)
    if stage.videos == USED:
        return chunk_tables(name, stage.reads)
    n = len(dataset(name).videos)
    positions = deal(range(n), stage_config(name, stage.name)["chunks"])
    if chunk >= len(positions):
        raise WorkflowError(f"{name} has no {stage.name} chunk {chunk}")
    chunks = stage_config(name, stage.reads)["chunks"]
    holding = {chunk_holding(p, n, chunks) for p in positions[chunk]}
    return [L.chunk_table(name, stage.reads, k) for k in sorted(holding)]


def stage_settings(name, stage):
    """The typed settings of per-video stage ``stage`` for dataset ``name``."""
    classes = dataset(name).classes if STAGES[stage].reads_index else None
    try:
        return STAGES[stage].settings.from_config(config, name, stage, classes)
    except ConfigError as err:
        raise WorkflowError(str(err)) from err


def stage_settings_json(wildcards):
    return stage_settings(wildcards.dataset, wildcards.stage).to_json()


def stage_env(wildcards):
    return f"../envs/{STAGES[wildcards.stage].env}.yaml"


def stage_gpu_claim(wildcards):
    """A chunk job's GPU: where config key gpus is on and the stage's settings use one (OWLv2
    detection, motion with real weights)."""
    stage = STAGES[wildcards.stage]
    settings = stage_settings(wildcards.dataset, wildcards.stage)
    return int(bool(config["gpus"]) and stage.uses_gpu(settings))


def retry_marker(wildcards):
    """A chunk whose failed downloads were forgotten (rule retry_downloads) has a marker that
    makes it run again."""
    marker = L.retry_marker(wildcards.dataset, wildcards.chunk)
    return [marker] if Path(marker).exists() else []


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


def index_inputs(wildcards):
    """The local files the index is read from: paths given, or where URLs are fetched to."""
    sources = index_sources(wildcards.dataset, config)
    return {
        key.split(".", 2)[2].replace(".", "_"): str(p)
        for key, (_, p) in sources.items()
    }


def index_source(wildcards):
    """(config key, URL) of the index file the fetch_index job fetches."""
    for key, (value, local) in index_sources(wildcards.dataset, config).items():
        if is_url(value) and local.name == wildcards.name:
            return key, value
    raise WorkflowError(
        f"no index URL of config key datasets.{wildcards.dataset} is fetched to "
        f"{L.index_file(wildcards.dataset, wildcards.name)}"
    )


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


def chunk_of_table(table):
    """The chunk number a chunk table's name ends with (records/download-007.json: 7)."""
    return int(Path(table).stem.rsplit("-", 1)[-1])


def demo_videos(wildcards):
    """The demo's videos must be made before they are 'downloaded'."""
    if ds_config(wildcards)["source"] == "demo":
        return [L.demo_index(wildcards.dataset)]
    return []


# --- manifest -------------------------------------------------------------------------------------


def paper_lists(wildcards):
    """The paper's split lists of this dataset, as local files (none for generated splits)."""
    sources = index_sources(wildcards.dataset, config)
    prefix = f"datasets.{wildcards.dataset}.splits."
    return {
        f"paper_{key.removeprefix(prefix)}": str(local)
        for key, (_, local) in sources.items()
        if key.startswith(prefix)
    }


def truth_options(wildcards):
    """The demo generator's true boxes, to score the detections with (other datasets: none)."""
    if ds_config(wildcards)["source"] != "demo":
        return []
    return [
        f"--truth-folder={L.demo_boxes_folder(wildcards.dataset)}",
        f"--video-fps={config['demo']['fps']}",
        f"--frame-rate={ds_config(wildcards)['frame_rate']}",
    ]


# --- shards ---------------------------------------------------------------------------------------


def shard_groups(name, split):
    return deal_to_shards(
        split_videos(name, split), stage_config(name, "shards")["videos_per_shard"]
    )


def shard_members(wildcards):
    groups = shard_groups(wildcards.dataset, wildcards.split)
    if int(wildcards.shard) >= len(groups):
        raise WorkflowError(
            f"{wildcards.dataset} {wildcards.split} has {len(groups)} shards, "
            f"not {int(wildcards.shard) + 1}"
        )
    return groups[int(wildcards.shard)]


def shard_files(path):
    """A function: ``path`` (a Layout method) of each of the shard's videos."""

    def files(wildcards):
        return [path(wildcards.dataset, c, v) for c, v in shard_members(wildcards)]

    return files


_table_cache = {}


def recorded(name, stage):
    """(class, vid) -> record, from the stage's chunk tables of dataset ``name``; empty while
    any of them is still to be made (cached until a table changes)."""
    paths = chunk_tables(name, stage)
    if not all(Path(t).exists() for t in paths):
        return {}
    key = (name, stage, tuple(Path(t).stat().st_mtime_ns for t in paths))
    if key not in _table_cache:
        _table_cache[key] = read_tables(paths)
    return _table_cache[key]


def feature_tables(wildcards):
    """The detection (and motion) tables of the dataset: a shard is packed from their files,
    each of which must still be there (Snakemake does not see them: a job per chunk of videos
    made them). Only a file its table says was made is checked: a video the tables do not list
    yet is new, and the chunk jobs whose inputs it changed make it."""
    stages = {"audio": L.audio, "frames": L.frames, "detect": L.detections}
    if ds_config(wildcards)["motion"]:
        stages["motion"] = L.motion
    # A stage forced to run (--forcerun, --forceall) is about to remake what is missing.
    forced = workflow.dag_settings.forcerun
    members = shard_members(wildcards)
    for stage, path in stages.items():
        if stage in forced or workflow.dag_settings.forceall:
            continue
        records = recorded(wildcards.dataset, stage)
        for cls, vid in members if records else []:
            record = records.get((cls, vid))
            file = path(wildcards.dataset, cls, vid)
            if record and record["status"] == "ok" and not Path(file).exists():
                raise WorkflowError(missing_file_message(file, stage))
    features = [stage for stage in ("detect", "motion") if stage in stages]
    return [t for stage in features for t in chunk_tables(wildcards.dataset, stage)]


def shard_settings(wildcards):
    """What the shards' contents were made with, recorded in them with its hash, and from them
    in every checkpoint trained on them: the dataset's preprocessing recipe."""
    name = wildcards.dataset
    return json.dumps(recipe(config, name, dataset(name).classes), sort_keys=True)


# --- train ----------------------------------------------------------------------------------------


def train_runs(name):
    """Run name -> its own settings, for dataset ``name`` (iquery/model/settings.py: train_runs)."""
    return config_train_runs(config, name)


def train_seeds(study="main"):
    """The training seeds: config key train.seeds, or train.seed_study for study 'seeds'."""
    return config_train_seeds(config, study)


def per_attempt(amount):
    """A resource that grows with each retry: ``amount`` on the first attempt, twice on the
    second, ..."""
    return lambda wildcards, attempt: round(amount * attempt)


def gpu_claim(stage):
    """A function: the GPUs a job of ``stage`` claims (resource ``gpu``): none where config key
    ``gpus`` is false. A training run claims one per rank (``devices`` on each of its
    ``nodes``); per-video stages: ``stage_gpu_claim``."""

    def claim(wildcards):
        if not config["gpus"]:
            return 0
        if stage == "train":
            return run_ranks(wildcards)
        return 1

    return claim


def run_threads(wildcards):
    """A training job's cores: its run's threads setting (null: one)."""
    return run_settings(wildcards.dataset, wildcards.run, wildcards.seed).threads or 1


def run_ranks(wildcards):
    """The processes (ranks) a training run starts: its devices on each of its nodes."""
    settings = run_settings(wildcards.dataset, wildcards.run, wildcards.seed)
    return settings.devices * settings.nodes


@functools.cache
def run_settings(name, run, seed=None):
    """A run's complete settings for a training ``seed`` (default: config key seed;
    iquery/model/settings.py: run_settings), its visual weights as a local path; made and
    checked once per run and seed."""
    try:
        settings = config_run_settings(config, name, run, seed)
    except ConfigError as err:
        raise WorkflowError(str(err)) from err
    if settings.visual_weights == TRAINED_ON_CROPS:
        if settings.model_overrides.get("visual_backbone") != "small":
            raise WorkflowError(
                f"config key train.runs.{name}.{run}: visual_weights {TRAINED_ON_CROPS!r} "
                "trains the small encoder: set model_overrides.visual_backbone: small"
            )
        return settings.replace(visual_weights=L.visual_encoder(name))
    if settings.visual_weights:
        return settings.replace(visual_weights=weights_file(settings.visual_weights))
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


def crop_frame_size(name):
    """The crop side the dataset's runs train with: what its own encoder learns on."""
    first = next(iter(train_runs(name)))
    return run_settings(name, first).frame_size


def train_inputs(wildcards):
    name = wildcards.dataset
    settings = run_settings(name, wildcards.run, wildcards.seed)
    select_on = config["train"]["select_on"]
    inputs = {
        "train": L.shard_index(name, "train"),
        "select": L.shard_index(name, select_on),
    }
    if select_on == "test":
        inputs["pairs"] = L.test_pairs(name)
    if settings.visual_weights:
        inputs["weights"] = settings.visual_weights
    return inputs


# --- evaluate -------------------------------------------------------------------------------------


def compared_folders(name, study):
    """Run name -> the folders of its seeds, for a comparison of dataset ``name``."""
    seeds = train_seeds(study)
    return {run: [L.run(name, run, seed) for seed in seeds] for run in train_runs(name)}


def comparison_inputs(study):
    """A function: every run and seed of the dataset, evaluated."""

    def inputs(wildcards):
        folders = compared_folders(wildcards.dataset, study)
        return [
            getattr(folder, k)
            for runs in folders.values()
            for folder in runs
            for k in ("metrics", "per_pair", "summary")
        ]

    return inputs


def comparison_runs(study):
    """A function: compare's --run options, one per run with its seeds' folders."""

    def options(wildcards):
        folders = compared_folders(wildcards.dataset, study)
        return [
            word
            for run, runs in folders.items()
            for word in ["--run", run, *(f.path for f in runs)]
        ]

    return options


def report_inputs(study):
    """A function: the comparison, and the examples of the first run's first seed."""

    def inputs(wildcards):
        folders = compared_folders(wildcards.dataset, study)
        first = next(iter(folders.values()))[0]
        return {
            "comparison": L.comparison(wildcards.dataset, study),
            "examples": first.examples,
        }

    return inputs


# --- what the dataset targets ask for -------------------------------------------------------------


def preprocessed(name):
    """Everything up to the shards of dataset ``name``."""
    return [L.shard_index(name, split) for split in SPLITS] + [
        L.detection_summary(name)
    ]


def report_left_out():
    """At the end of a run: each dataset's availability counts and how many videos were left
    out, with the files that list them."""
    for name in sorted({name for name, _ in _loaded}):
        available, excluded = Path(L.availability(name)), Path(L.excluded(name))
        if available.is_file():
            counts = Counter(row["status"] for row in read_tsv(available))
            listed = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
            print(
                f"{name}: {sum(counts.values())} videos listed: {listed} ({available})"
            )
        unmatched = Path(L.copy_unmatched(name))
        if unmatched.is_file() and (rows := read_tsv(unmatched)):
            first = ", ".join(row["path"] for row in rows[:3])
            print(
                f"{name}: {len(rows)} files of the copy belong to no video of the index "
                f"(the first: {first}); all in {unmatched}",
                file=sys.stderr,
            )
        if excluded.is_file():
            count = len(read_tsv(excluded))
            if count:
                print(
                    f"{name}: {count} videos left out; reasons in {excluded}",
                    file=sys.stderr,
                )


def trained(name, run=None):
    """What a train_<dataset> target asks for: a run (default: the dataset's first), trained
    with each seed of config key train.seeds."""
    run = run or next(iter(train_runs(name)))
    return [L.run(name, run, seed).summary for seed in train_seeds()] + [
        L.detection_summary(name)
    ]


def evaluated(name, study="main"):
    """What an evaluate_<dataset> target asks for: every run trained with every seed of the
    study, evaluated, compared, and the report."""
    return [L.report(name, study), L.detection_summary(name)]


# --- separate ----------------------------------------------------------------------------------


def separate_dataset():
    return config["separate"]["dataset"] or config["dataset"]


def separated_folder():
    """The folder `separate` makes for config key video."""
    if not config["video"]:
        raise WorkflowError(
            "separate: give the video, e.g. --config video=my_duet.mp4 (or an http(s) URL)"
        )
    try:
        name = video_name(config["video"])
    except InvalidEntry as err:
        raise WorkflowError(f"config key video: {err}") from err
    return L.separated(separate_dataset(), name)


def separate_inputs(wildcards):
    """The run's summary (or the checkpoint file given) and, for a local video, the video."""
    which = config["separate"]["checkpoint"]
    # The index gives the dataset's class list, which the checkpoint's must match.
    inputs = {"index": L.index_json(wildcards.dataset)}
    if which in ("best", "last"):
        # The run trained with the first of config key train.seeds.
        run = L.run(wildcards.dataset, config["separate"]["run"], train_seeds()[0])
        inputs["summary"] = run.summary
    else:
        inputs["checkpoint"] = which
    if "://" not in config["video"]:
        inputs["video"] = config["video"]
    return inputs


def separate_model_option(wildcards, input):
    if "summary" in input.keys():
        return [
            f"--summary={input.summary}",
            f"--which={config['separate']['checkpoint']}",
        ]
    return [f"--checkpoint={input.checkpoint}"]


def separate_options(wildcards):
    """The video is prepared with the recipe the checkpoint records; config block separate
    chooses the rest."""
    settings = config["separate"]
    options = [
        f"--presence={settings['presence']}",
        f"--batch-size={settings['batch_size']}",
    ]
    if settings["detector"]:
        options.append(f"--detector={settings['detector']}")
    if settings["keep_prepared"]:
        options.append("--keep-prepared")
    return options
