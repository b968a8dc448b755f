# iQuery audio-visual sound separation: from video lists to separated sound.
# The pipeline's table of contents; each stage lives in rules/<stage>.smk and calls a small CLI
# in workflow_scripts/. Default target: the demo dataset, end to end.
from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config.yaml"


validate(config, "schemas/config.schema.yaml")


# PATH: rules find the project's python on it (see rules/common.smk).
envvars:
    "PATH",


# On a cluster these run where Snakemake runs: downloads need the internet, which compute
# nodes often lack, and the others are too small to be worth a cluster job.
localrules:
    download,
    index,
    manifest,
    splits,


include: "rules/common.smk"
include: "rules/demo.smk"
include: "rules/index.smk"
include: "rules/download.smk"
include: "rules/audio.smk"
include: "rules/frames.smk"
include: "rules/manifest.smk"
include: "rules/detect.smk"
include: "rules/motion.smk"
include: "rules/shards.smk"


rule all:
    default_target: True
    input:
        preprocessed(config["dataset"]),


rule preprocess_demo:
    input:
        preprocessed("demo"),


rule preprocess_music:
    input:
        preprocessed("music"),


rule preprocess_music21:
    input:
        preprocessed("music21"),


rule preprocess_ave:
    input:
        preprocessed("ave"),


onsuccess:
    report_left_out()
