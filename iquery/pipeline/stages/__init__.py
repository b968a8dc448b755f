"""The per-video stages, how they run over chunks of videos, and the shards training reads."""
