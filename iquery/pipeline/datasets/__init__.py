"""Datasets: index readers, the videos a dataset lists, a user's copy, splits, the manifest, the
demo."""
