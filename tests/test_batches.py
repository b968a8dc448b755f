"""Per-video stages in chunk jobs: dealing videos to chunks, and what a rerun keeps or redoes."""

import json

import pytest

from iquery.pipeline.core.errors import MediaError
from iquery.pipeline.core.records import FAILED, OK, SKIPPED
from iquery.pipeline.stages.batches import (
    Step,
    chunk_holding,
    deal,
    forget_failed,
    product,
    read_table,
    run_batch,
)


def test_deal_covers_every_item_once_in_order():
    for n in (0, 1, 5, 31, 32, 33, 100):
        for chunks in (1, 8, 32):
            dealt = deal(list(range(n)), chunks)
            assert [x for chunk in dealt for x in chunk] == list(range(n))
            assert len(dealt) == min(n, chunks) and all(dealt)  # none empty
            assert max(map(len, dealt), default=0) - min(map(len, dealt), default=0) <= 1
            for k, chunk in enumerate(dealt):
                assert all(chunk_holding(p, n, chunks) == k for p in chunk)


class Counter:
    """Work that writes a file and counts its calls."""

    def __init__(self, tmp_path):
        self.tmp_path, self.calls = tmp_path, []

    def step(self, vid, made_from, fail=False, upstream=None):
        out = self.tmp_path / "out" / f"{vid}.txt"

        def work():
            self.calls.append(vid)
            if fail:
                raise MediaError(f"{vid} is broken")
            out.parent.mkdir(exist_ok=True)
            out.write_text(vid)
            return {"file": str(out)}

        record = self.tmp_path / "records" / f"{vid}.json"
        return Step("c", vid, record, made_from, work, (out,), upstream)


def test_rerun_keeps_current_and_redoes_changed_missing_or_deleted(tmp_path):
    c = Counter(tmp_path)
    table = tmp_path / "table.json"
    steps = [c.step("a", {"x": 1}), c.step("b", {"x": 1}), c.step("bad", {"x": 1}, fail=True)]
    records = run_batch("stage", steps, table)
    assert [r["status"] for r in records] == [OK, OK, FAILED]
    assert records[2]["reason"] == "bad is broken"
    assert read_table(table) == records
    assert c.calls == ["a", "b", "bad"]

    # The same inputs: nothing redone, a failure not retried, the same table.
    c.calls.clear()
    assert run_batch("stage", steps, table) == records and c.calls == []

    # Changed inputs, a deleted output and a deleted record are redone; the rest kept.
    (tmp_path / "out" / "b.txt").unlink()
    steps[0] = c.step("a", {"x": 2})
    (tmp_path / "records" / "bad.json").unlink()
    run_batch("stage", steps, table)
    assert c.calls == ["a", "b", "bad"]
    c.calls.clear()
    run_batch("stage", [c.step("new", {"x": 1}), *steps], table)
    assert c.calls == ["new"]


def test_upstream_failure_skips_and_bugs_fail_the_job(tmp_path):
    c = Counter(tmp_path)
    up = {"stage": "download", "status": FAILED, "reason": "gone", "info": {}, "made_from": {}}
    [record] = run_batch("audio", [c.step("a", {"up": product(up)}, upstream=up)], tmp_path / "t")
    assert record["status"] == SKIPPED and record["reason"] == "download failed"
    assert c.calls == []

    def bug():
        raise ZeroDivisionError

    step = Step("c", "z", tmp_path / "z.json", {}, bug)
    with pytest.raises(ZeroDivisionError):
        run_batch("audio", [step], tmp_path / "t2")
    assert not (tmp_path / "z.json").exists() and not (tmp_path / "t2").exists()


def test_a_killed_job_keeps_what_it_finished(tmp_path):
    c = Counter(tmp_path)

    def killed():
        raise KeyboardInterrupt

    steps = [c.step("a", {}), Step("c", "k", tmp_path / "k.json", {}, killed), c.step("b", {})]
    with pytest.raises(KeyboardInterrupt):
        run_batch("stage", steps, tmp_path / "table.json")
    assert c.calls == ["a"]
    c.calls.clear()
    steps[1] = c.step("k", {})
    run_batch("stage", steps, tmp_path / "table.json")
    assert c.calls == ["k", "b"]


def test_product_ignores_how_a_file_was_had(tmp_path):
    """A video found on disk instead of downloaded is the same input for the next stage."""
    files = {"path": "/v.mp4", "bytes": 10, "mtime_ns": 1}
    record = {"made_from": {"url": "u"}, "status": OK, "reason": "", "info": {"files": files}}
    same = json.loads(json.dumps(record))
    same["info"]["source"] = "on disk"
    assert product(same) == product(record)
    same["info"]["files"]["bytes"] = 11
    assert product(same) != product(record)


def test_forget_failed_marks_only_chunks_with_failed_downloads(tmp_path):
    """Failed downloads are forgotten (their records deleted, their chunk marked to rerun); the
    ok ones and unusable index entries stay."""
    from iquery.pipeline.core.records import write_record

    def record(vid, status, problem=None):
        return write_record(
            tmp_path / "records" / "download" / "c" / f"{vid}.json",
            stage="download",
            cls="c",
            vid=vid,
            status=status,
            reason="x" if status == FAILED else "",
            made_from={"url": vid, "problem": problem, "copy": None},
        )

    first = [record("gone", FAILED), record("kept", OK), record("bad", FAILED, "not a URL")]
    tables = [tmp_path / "records" / f"download-{k:03d}.json" for k in range(2)]
    tables[0].write_text(json.dumps({"stage": "download", "records": first}))
    tables[1].write_text(json.dumps({"stage": "download", "records": [record("fine", OK)]}))

    def marker(table):
        return str(table).replace(".json", ".retry")

    def at(cls, vid):
        return str(tmp_path / "records" / "download" / cls / f"{vid}.json")

    forgotten = forget_failed(tables, at, marker, tmp_path / "forgot.log")
    assert [p.stem for p in forgotten] == ["gone"]
    left = {p.stem for p in (tmp_path / "records" / "download" / "c").glob("*.json")}
    assert left == {"kept", "bad", "fine"}
    marker = (tmp_path / "records" / "download-000.retry").read_text()
    assert marker.startswith("# forgotten at ") and marker.endswith("\nc/gone\n")
    assert not (tmp_path / "records" / "download-001.retry").exists()
    assert all(t.exists() for t in tables)
