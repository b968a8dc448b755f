"""Same config and seed, same results: the tiny demo made again from nothing in another folder
gives the same shards, byte for byte, and the same run trained and evaluated on each gives the
same metrics, to the last digit."""

import json
from concurrent.futures import ThreadPoolExecutor

from iquery.pipeline.core.files import read_tsv
from tests.tiny_demo import build_tiny_demo, copy_tiny_demo, snakemake

METRICS = "results/demo/iquery/seed-1234/metrics.json"


def test_two_fresh_runs_give_identical_shards_and_metrics(tmp_path, tiny_demo):
    fresh = build_tiny_demo(tmp_path / "fresh")
    made = sorted(p.relative_to(tiny_demo) for p in (tiny_demo / "data/demo/shards").iterdir())
    assert any(p.suffix == ".h5" for p in made) and any(p.suffix == ".json" for p in made)
    for path in made:
        assert (fresh / path).read_bytes() == (tiny_demo / path).read_bytes(), path
    again = tmp_path / "again"
    copy_tiny_demo(tiny_demo, again)
    # Both trained at once (each training job uses one core).
    with ThreadPoolExecutor(2) as pool:
        list(
            pool.map(
                lambda root: snakemake(root, METRICS, configs=[root / "tiny.yaml"]), (again, fresh)
            )
        )
    first, second = (json.loads((root / METRICS).read_text()) for root in (again, fresh))
    assert first == second  # every key: scores, intervals, paths, hashes, versions
    rows = [
        read_tsv(root / METRICS.replace("metrics.json", "per_pair.tsv")) for root in (again, fresh)
    ]
    assert rows[0] == rows[1] and len(rows[0]) == 3
