"""Machines and clusters: GPUs shared by jobs on one machine, ranks of a training on SLURM."""
