# The per-video stages: download, audio, frames (every listed video), then detection and motion
# (the videos the splits use). A stage is declared once, in iquery/pipeline/stages/ (its settings,
# its output per video, its work for one video; the registry lists them); each rule below is the
# template `chunk_stage` for one of them: a job per chunk of the dataset's videos (config key
# <stage>.chunks), whose output is the chunk's table of per-video records. A video a stage
# cannot use is recorded with the reason and the run goes on.


include: "inputs/per_video.smk"


# The template: it makes nothing itself (no stage matches "(?!)").
rule chunk_stage:
    input:
        unpack(stage_inputs),
    output:
        L.chunk_table("{dataset}", "{stage}", "{chunk}"),
    log:
        L.log("{dataset}", "{stage}-{chunk}"),
    benchmark:
        L.benchmark("{dataset}", "{stage}-{chunk}")
    wildcard_constraints:
        stage="(?!)",
    conda:
        stage_env
    threads: lambda wildcards: STAGES[wildcards.stage].threads
    resources:
        gpu=stage_gpu_claim,
        downloads=lambda wildcards: int(STAGES[wildcards.stage].network),
        mem_mb=lambda wildcards, attempt: STAGES[wildcards.stage].mem_mb * attempt,
        runtime=lambda wildcards, attempt: STAGES[wildcards.stage].runtime_min * attempt,
    params:
        data=lambda wildcards: L.data,
        settings=stage_settings_json,
        copied=copy_option,
    shell:
        "OMP_NUM_THREADS={threads} python -m iquery.cli.stage {wildcards.stage}"
        " --data {params.data:q} --dataset {wildcards.dataset} --chunk {wildcards.chunk}"
        " --settings {params.settings:q} --videos {input.videos:q}"
        " --upstream {input.upstream:q} --table {output:q} {params.copied:q}"
        " --threads {threads} --gpus={resources.gpu} ${{IQUERY_OFFLINE:+--offline}}"
        " 2> {log:q}"


# Download: yt-dlp (the demo's are file:// URLs), or the dataset's copy. Config key offline
# reaches the job through the environment, so going off- or online redoes nothing.
use rule chunk_stage as download with:
    input:
        unpack(stage_inputs),
        demo=demo_videos,
        retry=retry_marker,
    wildcard_constraints:
        stage="download",


# Downloads that failed are not tried again by later runs (a video gone from YouTube stays
# gone); `snakemake retry_downloads` (for config key `dataset`) forgets them, and the next run
# tries them again.
rule retry_downloads:
    log:
        L.log(config["dataset"], "retry-downloads"),
    localrule: True
    params:
        # The tables on disk (the index, a checkpoint, need not be read for this).
        tables=lambda wildcards: sorted(
            glob.glob(L.chunk_table(config["dataset"], "download", "[0-9][0-9][0-9]"))
        ),
    run:
        from iquery.pipeline.stages.batches import forget_failed

        forgotten = forget_failed(
            params.tables,
            lambda cls, vid: L.record(config["dataset"], "download", cls, vid),
            lambda table: L.retry_marker(config["dataset"], chunk_of_table(table)),
            log[0],
        )
        print(
            f"{len(forgotten)} failed downloads forgotten: the next run tries them again"
        )


# Audio: mono 16-bit WAV at the dataset's rate, exact length.
use rule chunk_stage as audio with:
    wildcard_constraints:
        stage="audio",


# Frames: JPEGs at the dataset's frame rate; a copy's detections and motion features are
# checked against them here, before the splits.
use rule chunk_stage as frames with:
    wildcard_constraints:
        stage="frames",


# Detection: each used video's (K, 7) boxes per frame, detection_results/{cls}/{vid}.mp4.npy.
use rule chunk_stage as detect with:
    wildcard_constraints:
        stage="detect",


# Motion: I3D tokens of each used video (datasets whose `motion` is on),
# motion_features/{cls}/{vid}.mp4.npz.
use rule chunk_stage as motion with:
    wildcard_constraints:
        stage="motion",


# The motion encoder learned on the dataset's own training videos (motion.weights: learned),
# where no FAME or Kinetics weights can be had: audio-visual synchrony, no labels.
rule motion_encoder:
    input:
        train=L.split("{dataset}", "train"),
        frames=tables("frames"),
        audio=tables("audio"),
    output:
        L.motion_encoder("{dataset}"),
    log:
        L.log("{dataset}", "motion-encoder"),
    benchmark:
        L.benchmark("{dataset}", "motion-encoder")
    conda:
        "../envs/train.yaml"
    threads: 1  # learned on one thread: the same weights on every run (motion_pretraining.py)
    resources:
        mem_mb=per_attempt(4000),
        runtime=per_attempt(120),
    params:
        data=lambda wildcards: L.data,
        motion=lambda wildcards: stage_settings(wildcards.dataset, "motion").to_json(),
        settings=lambda wildcards: stage_config(wildcards.dataset, "motion_encoder"),
        seed=config["seed"],
    shell:
        "python -m iquery.cli.pretrain_motion --data {params.data:q}"
        " --dataset {wildcards.dataset} --settings {params.motion:q}"
        " --train {input.train:q} --frames {input.frames:q}"
        " --steps {params.settings[steps]} --batch-size {params.settings[batch_size]}"
        " --lr {params.settings[lr]} --seed {params.seed} --threads {threads}"
        " --out {output:q} 2> {log:q}"


# How well the detector found the instruments (against the demo's true boxes, where known).
rule detection_summary:
    input:
        tables("detect"),
        demo=demo_videos,
        index=L.index_json("{dataset}"),
        splits=L.split("{dataset}", "train"),
    output:
        L.detection_summary("{dataset}"),
    log:
        L.log("{dataset}", "detection-summary"),
    conda:
        "../envs/train.yaml"
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        classes=class_list,
        truth=truth_options,
        tables=lambda wildcards: chunk_tables(wildcards.dataset, "detect"),
    shell:
        "python -m iquery.cli.summarise_detections --classes {params.classes:q}"
        " --tables {params.tables:q} {params.truth:q} --out {output:q} 2> {log:q}"
