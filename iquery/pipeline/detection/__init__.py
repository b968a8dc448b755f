"""Instrument detection: the (K, 7) row format and the paper's box rule (``rows``), the backends
(``background``, ``owl``, ``precomputed``) behind one call (``backends``), and the check of a
dataset's detections against known boxes (``summary``)."""
