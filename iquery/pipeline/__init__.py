"""The pipeline's library: where artifacts live, and the stages that make them.

Its levels, each using only the ones above it:

- ``core``: errors, atomic files, safe ids, the layout of every artifact, records, faults;
- ``media``, ``detection``, ``motion``: ffmpeg and yt-dlp, detectors, the I3D and its tokens;
- ``datasets``: index readers, the dataset's videos, a user's copy, splits, the manifest, the
  demo generator;
- ``stages``: the per-video stages and how they run in chunks, and the shards;
- ``cluster`` and ``report`` (core only): GPUs on one machine, ranks of a training on SLURM;
  the HTML report and separate's page.

The rules in ``rules/`` and the commands in ``iquery/cli/`` are thin layers over these modules;
the learning code (networks, loader, training, evaluation) is in ``iquery/model/``.
"""
