# The demo dataset: rendered instruments (FluidSynth) with drawn, note-driven pictures.


def demo_soundfont(wildcards):
    soundfont = config["demo"]["soundfont"]
    if not Path(soundfont).is_file():
        raise WorkflowError(
            f"config key demo.soundfont: {soundfont!r} not found; install Debian's "
            "timgm6mb-soundfont (setup.sh does) or point the key at a General MIDI .sf2"
        )
    return soundfont


rule demo:
    input:
        soundfont=demo_soundfont,
    output:
        index=f"{DATA}/{{dataset}}/source/index.json",
        meta=f"{DATA}/{{dataset}}/source/meta.json",
    params:
        out=lambda wildcards, output: Path(output.index).parent,
        classes=" ".join(config["demo"]["classes"]),
        settings=config["demo"],
        seed=config["seed"],
    threads: workflow.cores
    log:
        f"{DATA}/{{dataset}}/logs/demo.log",
    shell:
        "{PYTHON} -m workflow_scripts.make_demo --out {params.out:q} --classes {params.classes}"
        " --videos-per-class {params.settings[videos_per_class]}"
        " --min-seconds {params.settings[min_seconds]} --max-seconds {params.settings[max_seconds]}"
        " --width {params.settings[width]} --height {params.settings[height]}"
        " --fps {params.settings[fps]} --sample-rate {params.settings[sample_rate]}"
        " --soundfont {input.soundfont:q} --seed {params.seed} --jobs {threads} 2> {log:q}"
