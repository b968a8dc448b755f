"""The suite cannot go green by skipping: under CI=true a skip fails, except for a GPU."""

import pytest

SKIPPING = """
import pytest

def test_needs_a_file():
    pytest.skip("the index copies are not here")

@pytest.mark.skipif(True, reason="no GPU")
def test_needs_a_gpu():
    pass

@pytest.fixture
def cluster():
    pytest.skip("no SLURM cluster could start here: slurmd did not start")

def test_on_a_cluster(cluster):
    pass
"""


# A skip in a fixture (the cluster's start-up) fails as an error of the test's set-up.
@pytest.mark.parametrize("ci, failed, errors, skipped", [("true", 1, 1, 1), ("", 0, 0, 3)])
def test_skips_fail_under_ci(pytester, monkeypatch, ci, failed, errors, skipped):
    monkeypatch.setenv("CI", ci)
    pytester.makepyfile(SKIPPING)
    result = pytester.runpytest("-p", "tests.strict_skips", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=failed, errors=errors, skipped=skipped)
    if ci:
        result.stdout.fnmatch_lines(
            ["*skipped under CI=true, where every test must run: the index copies are not here*"]
        )
