"""The learning side: networks, the shard loader, training, evaluation and comparisons."""
