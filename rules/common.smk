# Helpers shared by the rules: dataset lookup, artifact paths, config checks.
import json
import os
import shlex
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.settings.types import DeploymentMethod

from workflow_scripts.datasets import (
    ConfigError,
    cache_name,
    fetch_url,
    is_url,
    load_dataset,
)
from workflow_scripts.ids import SAFE_CLASS_DIR, SAFE_VID
from workflow_scripts.indexes import IndexFormatError

DATA = config["paths"]["data"]
RESULTS = config["paths"]["results"]
# Rules call `python -m workflow_scripts....`: put the interpreter running Snakemake (which has
# the project installed) first on PATH, so `.venv/bin/snakemake` works without activating the
# venv. Under --sdm conda each rule's env supplies its own python instead.
if DeploymentMethod.CONDA not in workflow.deployment_settings.deployment_method:
    os.environ["PATH"] = os.pathsep.join(
        [str(Path(sys.executable).parent), os.getenv("PATH", "")]
    )


wildcard_constraints:
    dataset=r"[a-z][a-z0-9_]*",
    split=r"train|val|test",
    cls=SAFE_CLASS_DIR,
    vid=SAFE_VID,
    run=r"[a-z][a-z0-9_]*",


def check_config_files():
    """Local files named in config must exist before anything runs."""
    for name, ds in config["datasets"].items():
        for group in ("index", "splits"):
            for key, value in (ds.get(group) or {}).items():
                if "://" not in value and not Path(value).expanduser().is_file():
                    raise WorkflowError(
                        f"config key datasets.{name}.{group}.{key}: file {value!r} not found; "
                        "give an existing path or the public URL"
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


check_config_files()

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


def record(stage):
    """The declared output of a per-video stage: its JSON record (media sit beside, see README)."""
    return f"{DATA}/{{dataset}}/records/{stage}/{{cls}}/{{vid}}.json"


def stage_log(stage):
    return f"{DATA}/{{dataset}}/logs/{stage}/{{cls}}/{{vid}}.log"


def all_records(stage):
    def inputs(wildcards):
        videos = dataset(wildcards.dataset).videos
        return [
            record(stage).format(dataset=wildcards.dataset, cls=v.cls, vid=v.vid)
            for v in videos
        ]

    return inputs


def segment_arg(wildcards):
    """'--segment START:END' for datasets trimmed to an annotated event (AVE), else ''."""
    video = video_of(wildcards)
    if not ds_config(wildcards).get("trim_to_segment") or video.segment is None:
        return ""
    return "--segment {}:{}".format(*video.segment)


def preprocessed(name):
    """What a preprocessing target asks for: the shards of every split of dataset ``name``."""
    return [f"{DATA}/{name}/shards/{split}.json" for split in ("train", "val", "test")]


def report_left_out():
    for name in _loaded:
        excluded = Path(DATA) / name / "excluded.tsv"
        if excluded.is_file():
            count = sum(1 for _ in excluded.open()) - 1
            if count:
                print(
                    f"{name}: {count} videos left out; reasons in {excluded}",
                    file=sys.stderr,
                )


def demo_soundfont(wildcards):
    soundfont = config["demo"]["soundfont"]
    if not Path(soundfont).is_file():
        raise WorkflowError(
            f"config key demo.soundfont: {soundfont!r} not found; install Debian's "
            "timgm6mb-soundfont (setup.sh does) or point the key at a General MIDI .sf2"
        )
    return soundfont


def index_config(wildcards):
    """The part of config the index depends on, as JSON: with the whole config here, any change
    (a training key, say) would rebuild the index and so everything after it."""
    ds = ds_config(wildcards)
    keys = ("source", "index", "splits", "classes")
    view = {
        "paths": {"data": DATA},
        "datasets": {wildcards.dataset: {k: ds[k] for k in keys if k in ds}},
    }
    if ds["source"] == "demo":
        view["demo"] = config["demo"]
    return json.dumps(view, sort_keys=True)


def index_sources(wildcards):
    """The local files the index is read from (URLs are fetched into data/{dataset}/index/)."""
    sources = dataset(wildcards.dataset).sources
    return {key.replace(".", "_"): str(path) for key, path in sources.items()}


def download_inputs(wildcards):
    """The demo's videos must be made before they are 'downloaded'."""
    if ds_config(wildcards)["source"] == "demo":
        return [f"{DATA}/{wildcards.dataset}/source/index.json"]
    return []


def min_audio_seconds(wildcards):
    given = config["audio"]["min_seconds"]
    ds = ds_config(wildcards)
    return given if given is not None else ds["clip_samples"] / ds["audio_rate"]


def paper_lists(wildcards):
    """The paper's split lists of this dataset, as local files (none for generated splits)."""
    sources = dataset(wildcards.dataset).sources
    return {
        k.split(".")[1]: str(p) for k, p in sources.items() if k.startswith("splits.")
    }


def detect_options(wildcards):
    """Command-line options of the detect stage for this dataset's backend."""
    ds, settings = ds_config(wildcards), config["detect"]
    options = []
    if ds["detector"] == "owl":
        options += [
            "--model",
            settings["owl_model"],
            "--threshold",
            settings["threshold"],
        ]
        options += ["--batch-size", settings["batch_size"]]
    elif ds["detector"] == "precomputed":
        if not settings["precomputed_dir"]:
            raise WorkflowError(
                f"datasets.{wildcards.dataset}.detector is 'precomputed' but config key "
                "detect.precomputed_dir is not set"
            )
        options += ["--precomputed-dir", settings["precomputed_dir"]]
        if settings["class_offset"] is not None:
            options += ["--class-offset", settings["class_offset"]]
    if (
        ds["source"] == "demo"
    ):  # the generator's true boxes: the summary reports the IoU
        options += ["--truth-dir", f"{DATA}/{wildcards.dataset}/source/boxes"]
        options += [
            "--video-fps",
            config["demo"]["fps"],
            "--frame-rate",
            ds["frame_rate"],
        ]
    return " ".join(shlex.quote(str(o)) for o in options)


def motion_options(wildcards):
    settings = config["motion"]
    options = []
    if settings["weights"]:
        options += ["--weights", settings["weights"]]
    if settings["resize_short"]:
        options += ["--resize-short", settings["resize_short"]]
    return " ".join(shlex.quote(str(o)) for o in options)


def shard_inputs(wildcards):
    base = f"{DATA}/{wildcards.dataset}"
    inputs = {
        "split": f"{base}/splits/{wildcards.split}.tsv",
        "detections": f"{base}/detection_results/summary.json",
    }
    if ds_config(wildcards)["motion"]:
        inputs["motion"] = f"{base}/motion_features/summary.json"
    return inputs


def shard_options(wildcards):
    options = []
    if ds_config(wildcards)["box_rule"] == "own_class":
        options.append("--own-class-boxes")
    if ds_config(wildcards)["motion"]:
        options += ["--motion-dir", f"{DATA}/{wildcards.dataset}/motion_features"]
    return " ".join(shlex.quote(o) for o in options)


# --- training, evaluation, report ----------------------------------------------------------------

VARIANTS = ("iquery", "nomotion", "sop")


def train_runs(name):
    """Run name -> its own settings, for dataset ``name`` (config key train.runs; a dataset not
    listed there gets one run, iQuery, without motion where the dataset has none)."""
    runs = config["train"]["runs"].get(name)
    if runs:
        return runs
    motion = config["datasets"][name].get("motion", True)
    return {"iquery": {"variant": "iquery" if motion else "nomotion"}}


def run_settings(wildcards):
    """What workflow_scripts/train.py gets for one run: the dataset's clip length, the seed and
    train.visual_weights, then train.settings.<dataset>, then train.runs.<dataset>.<run> (each
    overriding the last; model_overrides merged)."""
    name, run = wildcards.dataset, wildcards.run
    runs = train_runs(name)
    if run not in runs:
        raise WorkflowError(
            f"no run {run!r} for dataset {name}: config key train.runs.{name} lists "
            f"{', '.join(runs)}"
        )
    shared = config["train"]["settings"].get(name, {})
    own = runs[run]
    settings = {"clip_samples": config["datasets"][name]["clip_samples"]}
    settings["seed"] = config["seed"]
    settings["visual_weights"] = config["train"]["visual_weights"]
    settings |= shared | own
    settings["model_overrides"] = shared.get("model_overrides", {}) | own.get(
        "model_overrides", {}
    )
    if "variant" not in settings:
        if run not in VARIANTS:
            raise WorkflowError(
                f"config key train.runs.{name}.{run}: give its variant "
                f"({', '.join(VARIANTS)})"
            )
        settings["variant"] = run
    if settings.get("visual_weights"):
        settings["visual_weights"] = weights_file(settings["visual_weights"])
    return settings


def weights_file(source):
    """A weights file as a local path; URLs are fetched into {DATA}/weights/ by a rule."""
    if not is_url(source):
        if not Path(source).expanduser().is_file():
            raise WorkflowError(f"visual_weights: file {source!r} not found")
        return str(Path(source).expanduser())
    return f"{DATA}/weights/{cache_name(source, 'weights')}"


def weights_url(wildcards):
    """The URL a file in {DATA}/weights/ is fetched from (a visual_weights value in config)."""
    train = config["train"]
    blocks = [train, *train["settings"].values()]
    blocks += [own for runs in train["runs"].values() for own in runs.values()]
    for block in blocks:
        source = block.get("visual_weights")
        if (
            source
            and is_url(source)
            and Path(weights_file(source)).name == wildcards.name
        ):
            return source
    raise WorkflowError(
        f"no visual_weights URL in config gives {DATA}/weights/{wildcards.name}"
    )


def train_inputs(wildcards):
    base = f"{DATA}/{wildcards.dataset}/shards"
    select_on = config["train"]["select_on"]
    inputs = {"train": f"{base}/train.json", "select": f"{base}/{select_on}.json"}
    weights = run_settings(wildcards).get("visual_weights")
    if weights:
        inputs["weights"] = weights
    return inputs


def run_threads(wildcards):
    return run_settings(wildcards).get("threads") or 1


def run_dir(dataset, run):
    return f"{RESULTS}/{dataset}/{run}"


def report_inputs(wildcards):
    """Every run of the dataset, evaluated: the report compares them."""
    inputs = {
        "examples": f"{run_dir(wildcards.dataset, wildcards.run)}/examples.npz",
    }
    for run in train_runs(wildcards.dataset):
        inputs[f"metrics_{run}"] = f"{run_dir(wildcards.dataset, run)}/metrics.json"
    return inputs


def compared_runs(wildcards):
    runs = [r for r in train_runs(wildcards.dataset) if r != wildcards.run]
    return " ".join(shlex.quote(run_dir(wildcards.dataset, r)) for r in runs)


def trained(name, run=None):
    """What a train_<dataset> target asks for: a run's summary (default: the dataset's first)."""
    run = run or next(iter(train_runs(name)))
    return f"{run_dir(name, run)}/train_summary.json"


def evaluated(name):
    """What an evaluate_<dataset> target asks for: the first run's report, comparing them all."""
    return f"{run_dir(name, next(iter(train_runs(name))))}/report.html"
