"""iQuery audio-visual sound separation, from video lists to separated sound.

``iquery.pipeline`` makes the artifacts (datasets, media, detections, motion features, shards,
reports), ``iquery.model`` learns and scores from them, and ``iquery.cli`` holds the commands
the workflow's rules run (and the ``iquery`` console command). Imports run one way:
``cli`` -> ``model`` -> ``pipeline``.
"""
