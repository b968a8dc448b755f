# Input functions of rules/demo.smk.
from pathlib import Path

from snakemake.exceptions import WorkflowError

from iquery.pipeline.datasets.demo.naming import demo_video_ids


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
