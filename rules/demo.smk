# The demo dataset: rendered instruments (FluidSynth) with drawn, note-driven pictures.


include: "inputs/demo.smk"


rule demo:
    input:
        soundfont=soundfont,
    output:
        videos=[L.demo_video("{dataset}", cls, vid) for cls, vid in demo_ids()],
        boxes=[L.demo_boxes("{dataset}", cls, vid) for cls, vid in demo_ids()],
        index=L.demo_index("{dataset}"),
        meta=L.demo_meta("{dataset}"),
    log:
        L.log("{dataset}", "demo"),
    conda:
        "../envs/demo.yaml"
    threads: workflow.cores
    resources:
        mem_mb=lambda wildcards, threads: 500 * threads + 1000,
        runtime=30,
    params:
        classes=config["demo"]["classes"],
        settings=config["demo"],
        seed=config["seed"],
    shell:
        "python -m iquery.cli.make_demo --classes {params.classes:q}"
        " --videos-per-class {params.settings[videos_per_class]}"
        " --min-seconds {params.settings[min_seconds]} --max-seconds {params.settings[max_seconds]}"
        " --width {params.settings[width]} --height {params.settings[height]}"
        " --fps {params.settings[fps]} --sample-rate {params.settings[sample_rate]}"
        " --soundfont {input.soundfont:q} --seed {params.seed} --jobs {threads}"
        " --videos {output.videos:q} --boxes {output.boxes:q}"
        " --index {output.index:q} --meta {output.meta:q} 2> {log:q}"
