"""The pipeline's library: where artifacts live, and the steps that make them.

The rules in ``rules/`` and the command-line tools in ``workflow_scripts/`` are thin layers over
these modules; the learning code (networks, loader, training, evaluation) is in ``model/``.
"""
