# Manifest: which videos made it through every stage, which were left out and why; then splits.


rule manifest:
    input:
        videos=f"{DATA}/{{dataset}}/videos.tsv",
        download=all_records("download"),
        audio=all_records("audio"),
        frames=all_records("frames"),
    output:
        manifest=f"{DATA}/{{dataset}}/manifest.tsv",
        excluded=f"{DATA}/{{dataset}}/excluded.tsv",
    log:
        f"{DATA}/{{dataset}}/logs/manifest.log",
    conda:
        "../envs/preprocess.yaml"
    params:
        data_dir=lambda wildcards: f"{DATA}/{wildcards.dataset}",
    shell:
        "python -m workflow_scripts.manifest --videos {input.videos:q}"
        " --data-dir {params.data_dir:q} --manifest {output.manifest:q}"
        " --excluded {output.excluded:q} 2> {log:q}"


rule splits:
    input:
        unpack(paper_lists),
        manifest=f"{DATA}/{{dataset}}/manifest.tsv",
    output:
        summary=f"{DATA}/{{dataset}}/splits/summary.json",
        train=f"{DATA}/{{dataset}}/splits/train.tsv",
        val=f"{DATA}/{{dataset}}/splits/val.tsv",
        test=f"{DATA}/{{dataset}}/splits/test.tsv",
        pairs=f"{DATA}/{{dataset}}/splits/test_pairs.tsv",
    log:
        f"{DATA}/{{dataset}}/logs/splits.log",
    conda:
        "../envs/preprocess.yaml"
    params:
        out=lambda wildcards, output: Path(output.summary).parent,
        settings=config["splits"],
        seed=config["seed"],
        paper=lambda wildcards, input: " ".join(
            f"--{k} {shlex.quote(input[k])}"
            for k in ("train", "test", "pairs")
            if k in input.keys()
        ),
        keep_leaks=(
            "" if config["splits"]["drop_test_from_train"] else "--keep-test-in-train"
        ),
    shell:
        "python -m workflow_scripts.make_splits --manifest {input.manifest:q}"
        " --out-dir {params.out:q} --seed {params.seed}"
        " --val-fraction {params.settings[val_fraction]}"
        " --test-fraction {params.settings[test_fraction]}"
        " --pairs-per-test-video {params.settings[pairs_per_test_video]}"
        " {params.keep_leaks} {params.paper} 2> {log:q}"
