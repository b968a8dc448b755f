import numpy as np
import pytest

from iquery.pipeline.core.errors import DetectionError
from iquery.pipeline.detection.rows import iou, load_rows, save_rows, select_boxes

FRAME = {"n_frames": 3, "width": 100, "height": 80}


def rows(*r):
    return np.array(r, dtype=np.float32).reshape(-1, 7)


def test_selection_rules():
    r = rows(
        [1, 0, 0.9, 10, 10, 50, 50],
        [1, 2, 0.5, 20, 20, 60, 60],
        [2, 2, 0.3, 0, 0, 30, 30],
        [2, 1, 0.8, 5, 5, 90, 70],
    )
    top = select_boxes(r, 3, width=100, height=80)
    assert top.tolist() == [[10, 10, 50, 50], [5, 5, 90, 70], [0, 0, 100, 80]]
    own = select_boxes(r, 3, width=100, height=80, own_class=2)
    assert own.tolist() == [[20, 20, 60, 60], [0, 0, 30, 30], [0, 0, 100, 80]]


def test_no_detections_mean_whole_frame(tmp_path):
    path = tmp_path / "zeros.npy"
    np.save(path, np.zeros((4, 7)))  # the circulating files' "nothing found"
    got = load_rows(path, **FRAME)
    assert got.shape == (0, 7)
    assert (select_boxes(got, 3, width=100, height=80) == [0, 0, 100, 80]).all()


@pytest.mark.parametrize(
    "bad, message",
    [
        (np.zeros((3, 6)), r"shape \(K, 7\)"),
        (rows([4, 0, 0.5, 1, 1, 5, 5]), "frame numbers"),
        (rows([0, 0, 0.5, 1, 1, 5, 5]), "frame numbers"),
        (rows([1, 0, 1.5, 1, 1, 5, 5]), "scores"),
        (rows([1, 0, 0.5, 5, 1, 5, 5]), "empty box"),
        (rows([1, 0, 0.5, 10, 10, 300, 50]), "outside the 100x80 frame"),
        (rows([1, 0, np.nan, 1, 1, 5, 5]), "NaN"),
        (rows([1, 7, 0.5, 1, 1, 5, 5]), "class id 7"),
    ],
)
def test_bad_rows_name_the_file(tmp_path, bad, message):
    path = tmp_path / "v.mp4.npy"
    np.save(path, bad)
    with pytest.raises(DetectionError, match=message) as err:
        load_rows(path, n_classes=3, **FRAME)
    assert str(path) in str(err.value)


def test_unreadable_and_missing(tmp_path):
    path = tmp_path / "v.mp4.npy"
    path.write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(DetectionError, match="not a readable"):
        load_rows(path, **FRAME)
    with pytest.raises(DetectionError, match="not found"):
        load_rows(tmp_path / "missing.npy", **FRAME)


def test_round_trip_and_clipping(tmp_path):
    path = tmp_path / "d.npy"
    save_rows(path, rows([2, -1, 0.7, -3, 2, 104, 79]))
    got = load_rows(path, **FRAME)
    assert got[0, 3:].tolist() == [0, 2, 100, 79]


def test_iou():
    a = np.array([[0, 0, 10, 10], [0, 0, 10, 10]], dtype=float)
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10]], dtype=float)
    assert iou(a, b) == pytest.approx([1.0, 1 / 3])
