# The demo dataset: rendered instruments (FluidSynth) with drawn, note-driven pictures.


rule demo:
    input:
        soundfont=demo_soundfont,
    output:
        index=f"{DATA}/{{dataset}}/source/index.json",
        meta=f"{DATA}/{{dataset}}/source/meta.json",
    log:
        f"{DATA}/{{dataset}}/logs/demo.log",
    conda:
        "../envs/demo.yaml"
    threads: workflow.cores
    params:
        out=lambda wildcards, output: Path(output.index).parent,
        classes=" ".join(config["demo"]["classes"]),
        settings=config["demo"],
        seed=config["seed"],
    shell:
        "python -m workflow_scripts.make_demo --out {params.out:q} --classes {params.classes}"
        " --videos-per-class {params.settings[videos_per_class]}"
        " --min-seconds {params.settings[min_seconds]} --max-seconds {params.settings[max_seconds]}"
        " --width {params.settings[width]} --height {params.settings[height]}"
        " --fps {params.settings[fps]} --sample-rate {params.settings[sample_rate]}"
        " --soundfont {input.soundfont:q} --seed {params.seed} --jobs {threads} 2> {log:q}"
