# Manifest: which videos made it through every per-video stage, which were left out and why;
# then the splits. The splits are a checkpoint: the videos they list are the ones every later
# stage handles, so the jobs after them are known once they are written.


include: "inputs/manifest.smk"


rule manifest:
    input:
        videos=L.videos_table("{dataset}"),
        download=tables("download"),
        audio=tables("audio"),
        frames=tables("frames"),
    output:
        manifest=L.manifest("{dataset}"),
        excluded=L.excluded("{dataset}"),
        availability=L.availability("{dataset}"),
        copy_unmatched=L.copy_unmatched("{dataset}"),
    log:
        L.log("{dataset}", "manifest"),
    conda:
        "../envs/preprocess.yaml"
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        copied=copy_option,
    shell:
        "python -m iquery.cli.make_manifest --videos {input.videos:q}"
        " --download {input.download:q} --audio {input.audio:q} --frames {input.frames:q}"
        " --manifest {output.manifest:q} --excluded {output.excluded:q}"
        " --availability {output.availability:q}"
        " --copy-unmatched {output.copy_unmatched:q} {params.copied:q} 2> {log:q}"


checkpoint splits:
    input:
        unpack(paper_lists),
        manifest=L.manifest("{dataset}"),
    output:
        train=L.split("{dataset}", "train"),
        val=L.split("{dataset}", "val"),
        test=L.split("{dataset}", "test"),
        pairs=L.test_pairs("{dataset}"),
        summary=L.splits_summary("{dataset}"),
    log:
        L.log("{dataset}", "splits"),
    conda:
        "../envs/preprocess.yaml"
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        settings=lambda wildcards: json.dumps(stage_config(wildcards.dataset, "splits")),
        seed=config["seed"],
        paper=lambda wildcards, input: [
            f"--{k.replace('_', '-')}={input[k]}"
            for k in ("paper_train", "paper_test", "paper_pairs")
            if k in input.keys()
        ],
    shell:
        "python -m iquery.cli.make_splits --manifest {input.manifest:q}"
        " --seed {params.seed} --settings {params.settings:q} {params.paper:q}"
        " --train {output.train:q} --val {output.val:q}"
        " --test {output.test:q} --pairs {output.pairs:q} --summary {output.summary:q}"
        " 2> {log:q}"
