# Input functions of rules/evaluate.smk: the runs and seeds a comparison reads.


def compared_folders(name, study):
    """Run name -> the folders of its seeds, for a comparison of dataset ``name``."""
    seeds = train_seeds(study)
    return {run: [L.run(name, run, seed) for seed in seeds] for run in train_runs(name)}


def comparison_inputs(study):
    """A function: every run and seed of the dataset, evaluated."""

    def inputs(wildcards):
        folders = compared_folders(wildcards.dataset, study)
        return [
            getattr(folder, k)
            for runs in folders.values()
            for folder in runs
            for k in ("metrics", "per_pair", "summary")
        ]

    return inputs


def comparison_runs(study):
    """A function: compare's --run options, one per run with its seeds' folders."""

    def options(wildcards):
        folders = compared_folders(wildcards.dataset, study)
        return [
            word
            for run, runs in folders.items()
            for word in ["--run", run, *(f.path for f in runs)]
        ]

    return options


def report_inputs(study):
    """A function: the comparison, and the examples of the first run's first seed."""

    def inputs(wildcards):
        folders = compared_folders(wildcards.dataset, study)
        first = next(iter(folders.values()))[0]
        return {
            "comparison": L.comparison(wildcards.dataset, study),
            "examples": first.examples,
        }

    return inputs


# What each of the report's files shows, for `snakemake --report` (captions in report/).
REPORT_FILES = {
    "per_class.png": "per_class.rst",
    "curves.png": "curves.rst",
    "results.tsv": "results.rst",
    "differences.tsv": "differences.rst",
    "per_class.tsv": "per_class_table.rst",
}


def report_item(study, name):
    """One of the report's figures or tables, marked for `snakemake --report`."""
    return report(
        L.report_figure("{dataset}", study, name),
        caption=f"../report/{REPORT_FILES[name]}",  # relative to rules/evaluate.smk
        category="{dataset}",
        subcategory="the report" if study == "main" else "over the seed study's seeds",
    )
