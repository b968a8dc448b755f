# Input functions of rules/separate.smk: the video, the model, and config block separate.
from snakemake.exceptions import WorkflowError

from iquery.pipeline.core.errors import InvalidEntry
from iquery.pipeline.core.ids import video_name
from iquery.pipeline.stages.one_video import download_settings


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
    if settings["model_rate"]:
        options.append("--model-rate")
    options.append(f"--high-band={settings['high_band']}")
    download = download_settings(config, separate_dataset())
    options.append(f"--download-settings={download.to_json()}")
    return options
