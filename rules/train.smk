# Training: results/{dataset}/{run}/seed-{seed}/ per run of config key train.runs and training
# seed (train.seeds; each seed its own job, so a cluster or a GPU box runs them side by side),
# and the ImageNet weights of the object encoder, fetched once.


include: "inputs/train.smk"


rule visual_weights:
    output:
        L.weights("{name}"),
    log:
        L.weights_log("{name}"),
    conda:
        "../envs/preprocess.yaml"
    resources:
        mem_mb=1000,
        runtime=30,
    params:
        url=weights_url,
    shell:
        "python -m iquery.cli.fetch --url={params.url:q} --key=train.visual_weights"
        " --out {output:q} ${{IQUERY_OFFLINE:+--offline}} 2> {log:q}"


rule visual_encoder:
    input:
        train=L.shard_index("{dataset}", "train"),
        val=L.shard_index("{dataset}", "val"),
    output:
        L.visual_encoder("{dataset}"),
    log:
        L.log("{dataset}", "visual-encoder"),
    benchmark:
        L.benchmark("{dataset}", "visual-encoder")
    conda:
        "../envs/train.yaml"
    threads: 2
    resources:
        mem_mb=per_attempt(3000),
        runtime=per_attempt(60),
    params:
        settings=lambda wildcards: stage_config(wildcards.dataset, "visual_encoder"),
        frame_size=lambda wildcards: crop_frame_size(wildcards.dataset),
        seed=config["seed"],
    shell:
        "python -m iquery.cli.pretrain_visual --train-shards {input.train:q}"
        " --val-shards {input.val:q} --frame-size {params.frame_size}"
        " --steps {params.settings[steps]} --batch-size {params.settings[batch_size]}"
        " --lr {params.settings[lr]} --seed {params.seed} --threads {threads}"
        " --out {output:q} 2> {log:q}"


rule train:
    input:
        unpack(train_inputs),
    output:
        L.run("{dataset}", "{run}", "{seed}").summary,
    log:
        L.results_log("{dataset}", "train-{run}-seed-{seed}"),
    benchmark:
        L.results_benchmark("{dataset}", "train-{run}-seed-{seed}")
    conda:
        "../envs/train.yaml"
    threads: run_threads
    resources:
        gpu=gpu_claim("train"),
        mem_mb=per_attempt(config["train"]["job_mem_mb"]),
        runtime=round(config["train"]["job_hours"] * 60),
        # Under SLURM a run over several devices is one task per device (rank), started by
        # srun from the job's command (iquery/pipeline/cluster/ranks.py); elsewhere these change nothing.
        nodes=lambda wildcards: run_settings(
            wildcards.dataset, wildcards.run, wildcards.seed
        ).nodes,
        tasks=lambda wildcards: run_ranks(wildcards),
        tasks_per_gpu=1,
        mpi=lambda wildcards: "srun" if run_ranks(wildcards) > 1 else None,
    params:
        run_dir=lambda wildcards: L.run(
            wildcards.dataset, wildcards.run, wildcards.seed
        ).path,
        settings=lambda wildcards: json.dumps(
            run_settings(wildcards.dataset, wildcards.run, wildcards.seed).to_dict(),
            sort_keys=True,
        ),
        select_on=config["train"]["select_on"],
        pairs=lambda wildcards, input: (
            [f"--pairs={input.pairs}"] if "pairs" in input.keys() else []
        ),
    shell:
        # --on-change restart: new settings or data start the run afresh; otherwise an
        # interrupted run resumes from its last checkpoint. Lightning's progress bar writes to
        # stdout: both streams go to the log (follow it with `tail -f`).
        "OPENBLAS_NUM_THREADS={threads} python -m iquery.cli.train"
        " --train-shards {input.train:q}"
        " --select-shards {input.select:q} --select-on {params.select_on} {params.pairs:q}"
        " --run-dir {params.run_dir:q} --config-json {params.settings:q} --gpus={resources.gpu}"
        " --on-change restart > {log:q} 2>&1"
