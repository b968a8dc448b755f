# iQuery audio-visual sound separation: from video lists to separated sound.
# The pipeline's table of contents; each stage lives in rules/<stage>.smk and calls a small CLI
# in iquery/cli/ over the library in iquery/pipeline/ and iquery/model/. Every artifact's path
# is defined in iquery/pipeline/core/layout.py. Default target: the demo dataset, end to end
# (preprocessing, training of iQuery and its baselines, evaluation, report).
from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config.yaml"


report: "report/workflow.rst"


validate(config, "schemas/config.schema.yaml")


# PATH: rules find the project's python on it (see rules/common.smk).
envvars:
    "PATH",


# On a cluster these run where Snakemake runs: downloads need the internet, which compute
# nodes often lack, and the others are too small to be worth a cluster job.
localrules:
    fetch_index,
    download,
    index,
    manifest,
    splits,
    detection_summary,
    shard_index,
    visual_weights,
    separate,


include: "rules/common.smk"
include: "rules/checks.smk"
include: "rules/targets.smk"


check_config()


include: "rules/demo.smk"
include: "rules/index.smk"
include: "rules/per_video.smk"
include: "rules/manifest.smk"
include: "rules/shards.smk"
include: "rules/train.smk"
include: "rules/evaluate.smk"
include: "rules/separate.smk"


rule all:
    default_target: True
    input:
        evaluated(config["dataset"]),


# Preprocessing alone (everything up to the shards) of config key `dataset`, or of one dataset.
rule preprocess:
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


# Training: each dataset's main run (config key train.runs lists the runs).
rule train_demo:
    input:
        trained("demo"),


rule train_music:
    input:
        trained("music"),


rule train_music21:
    input:
        trained("music21"),


rule train_ave:
    input:
        trained("ave"),


# The paper's ablation: iQuery on MUSIC without the motion branch.
rule train_nomotion:
    input:
        trained("music", "nomotion"),


# Evaluation: every run of a dataset trained (once per seed of config key train.seeds), scored
# on the test pairs, compared with intervals and paired differences, and shown in a report.
rule evaluate_demo:
    input:
        evaluated("demo"),


rule evaluate_music:
    input:
        evaluated("music"),


rule evaluate_music21:
    input:
        evaluated("music21"),


rule evaluate_ave:
    input:
        evaluated("ave"),


# The same over several training seeds (config key train.seed_study): each method's mean and
# spread over the seeds, intervals over pairs and seeds, in results/<dataset>/seeds/.
rule evaluate_demo_seeds:
    input:
        evaluated("demo", "seeds"),


rule evaluate_music_seeds:
    input:
        evaluated("music", "seeds"),


rule evaluate_music21_seeds:
    input:
        evaluated("music21", "seeds"),


rule evaluate_ave_seeds:
    input:
        evaluated("ave", "seeds"),


onsuccess:
    report_left_out()
