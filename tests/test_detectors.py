"""The detector backends: background subtraction, OWLv2 (tiny random model), precomputed files."""

import numpy as np
import pytest
from PIL import Image

from iquery.pipeline.core.errors import DetectionError
from iquery.pipeline.detection.background import background_boxes
from iquery.pipeline.detection.precomputed import import_rows
from iquery.pipeline.detection.rows import AGNOSTIC, iou, select_boxes


def swaying_object(frames=12, size=(160, 120)):
    """A static textured room and an object that moves across it; its true boxes."""
    rng = np.random.default_rng(0)
    w, h = size
    room = rng.integers(60, 200, (h, w, 3)).astype(np.uint8)
    room = np.asarray(Image.fromarray(room).resize((w // 8, h // 8)).resize((w, h)))
    video, truth = [], []
    for k in range(frames):
        x = int(20 + 80 * (0.5 + 0.5 * np.sin(k / 2)))
        y = int(30 + 20 * (0.5 + 0.5 * np.cos(k / 3)))
        frame = room.copy()
        frame[y : y + 50, x : x + 30] = (200, 30, 40)
        frame[y + 10 : y + 20, x + 5 : x + 25] = (20, 20, 20)
        video.append(frame)
        truth.append([x, y, x + 30, y + 50])
    return np.stack(video), np.array(truth, dtype=np.float32)


def test_background_finds_the_moving_object():
    video, truth = swaying_object()
    rows = background_boxes(video)
    assert (rows[:, 1] == AGNOSTIC).all() and ((rows[:, 2] >= 0) & (rows[:, 2] <= 1)).all()
    boxes = select_boxes(rows, len(video), width=160, height=120)
    assert (iou(boxes, truth) >= 0.7).mean() >= 0.9


def test_background_on_an_empty_room():
    video = np.repeat(swaying_object(3)[0][:1], 5, axis=0)  # nothing moves: nothing found
    assert background_boxes(video).shape == (0, 7)
    with pytest.raises(ValueError, match="shape"):
        background_boxes(video[..., 0])  # frames without their colours


def test_precomputed_conventions(tmp_path):
    path = tmp_path / "v.mp4.npy"
    np.save(path, np.array([[1, 3, 0.9, 1, 1, 50, 50], [2, 22, 0.8, 1, 1, 50, 50]], np.float32))
    detic = import_rows(path, class_offset=1, n_classes=21, n_frames=2, width=64, height=64)
    assert detic[:, 1].tolist() == [2, AGNOSTIC]  # 1-based ids; 22 ("person") is no class
    cosep = import_rows(path, class_offset=None, n_classes=21, n_frames=2, width=64, height=64)
    assert (cosep[:, 1] == AGNOSTIC).all()
    with pytest.raises(DetectionError, match="no precomputed detection file"):
        import_rows(tmp_path / "x.npy", class_offset=0, n_classes=2, n_frames=1, width=8, height=8)


def test_owl_rows_format_and_batching(tiny_owl):
    import torch

    from iquery.pipeline.detection.owl import OwlDetector, prompts_for

    torch.set_num_threads(1)
    detector = OwlDetector(str(tiny_owl), device="cpu", threshold=0.0)
    prompts = prompts_for(["cello", "acoustic_guitar"])
    assert prompts[1] == "a photo of a acoustic guitar"
    rng = np.random.default_rng(1)
    images = [Image.fromarray(rng.integers(0, 255, (90, 120, 3), dtype=np.uint8)) for _ in range(5)]
    rows = detector.detect(images, prompts, first_frame=1, batch_size=2)
    assert rows.shape[1] == 7 and len(rows) > 0
    assert set(np.unique(rows[:, 0])) <= {1, 2, 3, 4, 5} and set(np.unique(rows[:, 1])) <= {0, 1}
    assert (rows[:, 3] >= 0).all() and (rows[:, 5] <= 120).all() and (rows[:, 6] <= 90).all()
    # Batching does not change the answer.
    one_by_one = detector.detect(images, prompts, first_frame=1, batch_size=1)
    assert np.allclose(np.sort(rows, axis=0), np.sort(one_by_one, axis=0), atol=1e-4)
    # Nor does taking the images from an iterator, a batch at a time (a long video's frames).
    lazily = detector.detect((im for im in images), prompts, first_frame=1, batch_size=2)
    np.testing.assert_array_equal(lazily, rows)


def test_background_reads_a_long_video_a_frame_at_a_time(tmp_path):
    """A video longer than the frames the background is the median of: read from its folder
    one frame at a time, it gives what the frames held together give, and finds the object."""
    from iquery.pipeline.detection.backends import FrameFolder
    from iquery.pipeline.detection.background import MEDIAN_FRAMES

    video, truth = swaying_object(frames=MEDIAN_FRAMES + 60)
    for k, frame in enumerate(video):
        Image.fromarray(frame).save(tmp_path / f"{k + 1:06d}.jpg", quality=95)
    folder = FrameFolder(tmp_path)
    assert len(folder) == len(video) and folder[0].shape == (120, 160, 3)
    rows = background_boxes(folder)
    held = np.stack([folder[k] for k in range(len(folder))])
    np.testing.assert_array_equal(rows, background_boxes(held))
    boxes = select_boxes(rows, len(video), width=160, height=120)
    assert (iou(boxes, truth) >= 0.7).mean() >= 0.9
