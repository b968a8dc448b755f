"""Jobs sharing a machine's GPUs each take free ones, and show only those to CUDA."""

import pytest

from iquery.pipeline.cluster import gpu_slots


@pytest.fixture(autouse=True)
def no_gpus_given(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    yield
    gpu_slots.release()


def test_jobs_take_different_gpus_until_none_is_free(tmp_path, monkeypatch):
    first = gpu_slots.claim_gpus(1, total=3, folder=tmp_path)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")  # another job: a process of its own
    second = gpu_slots.claim_gpus(2, total=3, folder=tmp_path)
    assert (first, second) == ("0", "1,2")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    with pytest.raises(RuntimeError, match="1 GPU\\(s\\) wanted, 0 free of 3: run with"):
        gpu_slots.claim_gpus(1, total=3, folder=tmp_path)
    gpu_slots.release()  # the jobs end: their GPUs are free again
    assert gpu_slots.claim_gpus(3, total=3, folder=tmp_path) == "0,1,2"


def test_nothing_is_taken_where_the_gpus_are_given_or_not_wanted(tmp_path, monkeypatch):
    assert gpu_slots.claim_gpus(0, total=2, folder=tmp_path) == ""
    assert gpu_slots.claim_gpus(1, total=0, folder=tmp_path) == ""  # a machine without GPUs
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")  # SLURM placed the job
    assert gpu_slots.claim_gpus(1, total=4, folder=tmp_path) == "3"
    assert not list(tmp_path.glob("*.lock"))
