"""Separating a new video with a trained model (``iquery separate``)."""
