# Detection: instrument boxes per extracted frame, one (K, 7) .npy per video.


rule detect:
    input:
        manifest=f"{DATA}/{{dataset}}/manifest.tsv",
    output:
        summary=f"{DATA}/{{dataset}}/detection_results/summary.json",
    log:
        f"{DATA}/{{dataset}}/logs/detect.log",
    conda:
        "../envs/train.yaml"
    resources:
        gpu=lambda wildcards: 1 if ds_config(wildcards)["detector"] == "owl" else 0,
    params:
        data_dir=lambda wildcards: f"{DATA}/{wildcards.dataset}",
        backend=lambda wildcards: ds_config(wildcards)["detector"],
        classes=lambda wildcards: " ".join(dataset(wildcards.dataset).classes),
        options=detect_options,
    shell:
        "python -m workflow_scripts.detect --data-dir {params.data_dir:q}"
        " --backend {params.backend} --classes {params.classes} --summary {output.summary:q}"
        " {params.options} 2> {log:q}"
