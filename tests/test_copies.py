"""Copies in the original layout: each kind of file checked before it is used."""

import numpy as np
import pytest
from PIL import Image

from iquery.pipeline.core.errors import ConfigError, MediaError
from iquery.pipeline.datasets.copies import (
    Copy,
    check_detections,
    check_lengths,
    open_copy,
    read_motion,
    unmatched_files,
    use_audio,
    use_frames,
)
from iquery.pipeline.media.ffmpeg import write_wav
from tests.conftest import ffmpeg


def tone(seconds, rate):
    t = np.arange(int(seconds * rate)) / rate
    return (8000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)


def test_audio_linked_when_it_fits(tmp_path):
    copied = tmp_path / "copy" / "a.wav"
    copied.parent.mkdir()
    write_wav(copied, tone(7, 11025), 11025)
    out = tmp_path / "audio" / "a.wav"
    info = use_audio(copied, out, rate=11025, min_seconds=6)
    assert out.is_symlink() and out.resolve() == copied.resolve()
    assert info["samples"] == 7 * 11025 and info["source"] == "copied" and not info["converted"]


def test_audio_stereo_converted_wrong_rate_or_short_refused(tmp_path):
    stereo = tmp_path / "stereo.wav"
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=300:sample_rate=11025:duration=7", "-ac", "2",
           str(stereo))  # fmt: skip
    info = use_audio(stereo, tmp_path / "out.wav", rate=11025, min_seconds=6)
    assert info["converted"] and not (tmp_path / "out.wav").is_symlink()
    with pytest.raises(MediaError, match="at 11025 Hz, the dataset's rate is 22000 Hz"):
        use_audio(stereo, tmp_path / "x.wav", rate=22000, min_seconds=1)
    with pytest.raises(MediaError, match="too short, 7.00 s of audio"):
        use_audio(stereo, tmp_path / "x.wav", rate=11025, min_seconds=10)
    assert not (tmp_path / "x.wav").exists()


def frames_folder(path, count, size=(64, 48), skip=()):
    path.mkdir(parents=True)
    for k in range(1, count + 1):
        if k not in skip:
            Image.new("RGB", size, (k, 0, 0)).save(path / f"{k:06d}.jpg")
    return path


def test_frames_checked_then_linked(tmp_path):
    good = frames_folder(tmp_path / "good.mp4", 5)
    out = tmp_path / "frames" / "good.mp4"
    out.mkdir(parents=True)  # an earlier run's own frames are replaced
    info = use_frames(good, out, fps=1, min_frames=3)
    assert out.is_symlink() and info["count"] == 5 and info["size"] == [64, 48]
    with pytest.raises(MediaError, match="without gaps; the numbers have gaps"):
        use_frames(frames_folder(tmp_path / "gap", 5, skip=(3,)), out, fps=1, min_frames=3)
    with pytest.raises(MediaError, match="too short, 2 frames"):
        use_frames(frames_folder(tmp_path / "few", 2), out, fps=1, min_frames=3)
    odd = frames_folder(tmp_path / "odd", 4)
    Image.new("RGB", (32, 32)).save(odd / "000004.jpg")
    with pytest.raises(MediaError, match="differ in size"):
        use_frames(odd, out, fps=1, min_frames=3)
    (odd / "frame.png").write_bytes(b"")
    with pytest.raises(MediaError, match="found 'frame.png'"):
        use_frames(odd, out, fps=1, min_frames=3)


def test_lengths_must_agree():
    assert check_lengths(180.0, 180, 1) == ""
    assert check_lengths(180.0, 178, 1) == ""
    assert "frames at another rate" in check_lengths(180.0, 1440, 1)  # 8-fps frames
    assert check_lengths(10.0, 250, 25) == ""


def test_detections_checked_against_the_frames(tmp_path):
    path = tmp_path / "d.npy"
    kwargs = {"class_offset": None, "n_classes": 3, "n_frames": 5, "width": 64, "height": 48}
    np.save(path, np.array([[1, 7, 0.9, 1, 1, 30, 30], [5, 2, 0.5, 2, 2, 60, 40]], np.float32))
    assert check_detections(path, **kwargs) == 2
    np.save(path, np.zeros((1, 7), np.float32))
    assert check_detections(path, **kwargs) == 0  # the circulating files' "nothing found"
    np.save(path, np.ones((2, 6), np.float32))
    with pytest.raises(MediaError, match=r"copied .*d.npy: expected an array of shape \(K, 7\)"):
        check_detections(path, **kwargs)
    np.save(path, np.array([[9, 0, 0.9, 1, 1, 30, 30]], np.float32))
    with pytest.raises(MediaError, match=r"frame numbers must be whole numbers in 1..5"):
        check_detections(path, **kwargs)


def test_published_motion_features_become_tokens(tmp_path):
    path = tmp_path / "m.mp4.npy"
    features = np.random.default_rng(0).random((1024, 3, 4, 5), dtype=np.float32)
    np.save(path, features)
    tokens = read_motion(path, n_frames=20, fps=1, max_frames=160, channels=1024)
    assert tokens.tokens.shape == (3, 1024)
    assert np.allclose(tokens.tokens, features.max(axis=(2, 3)).T, atol=1e-3)
    assert tokens.spans.tolist() == [[0, 8], [8, 16], [16, 20]]
    with pytest.raises(MediaError, match="1024 channels, the configured motion.backbone gives"):
        read_motion(path, n_frames=20, fps=1, max_frames=160, channels=2048)
    with pytest.raises(MediaError, match="3 time steps, but 100 frames"):
        read_motion(path, n_frames=100, fps=1, max_frames=160, channels=1024)
    np.save(path, features[0])
    with pytest.raises(MediaError, match=r"expected I3D features of shape \(C, T', h, w\)"):
        read_motion(path, n_frames=20, fps=1, max_frames=160, channels=1024)


def test_copy_finds_each_kind_of_file(tmp_path):
    copy = Copy(tmp_path)
    assert copy.clip("Bark", "-abc") is None and copy.audio("Bark", "-abc") is None
    (tmp_path / "-abc.mp4").write_bytes(b"x")
    (tmp_path / "motion_features" / "Bark").mkdir(parents=True)
    (tmp_path / "motion_features" / "Bark" / "-abc.mp4.npy").write_bytes(b"x")
    assert copy.clip("Bark", "-abc") == tmp_path / "-abc.mp4"
    assert copy.motion("Bark", "-abc").name == "-abc.mp4.npy"


def test_an_empty_truncated_or_foreign_frame_fails_the_check(tmp_path):
    out = tmp_path / "frames" / "v.mp4"
    for name, damage, reason in (
        ("empty", lambda p: p.write_bytes(b""), "is empty"),
        ("cut", lambda p: p.write_bytes(p.read_bytes()[:200]), "is truncated"),
        ("png", lambda p: Image.new("RGB", (64, 48)).save(p, format="PNG"), "is not a JPEG"),
    ):
        folder = frames_folder(tmp_path / name, 5)
        damage(folder / "000003.jpg")
        with pytest.raises(MediaError, match=f"000003.jpg {reason}"):
            use_frames(folder, out, fps=1, min_frames=3)
    assert not out.exists()


def test_a_copy_one_level_too_deep_names_the_folder_that_fits(tmp_path):
    (tmp_path / "wrapper" / "MUSIC" / "frames" / "cello").mkdir(parents=True)
    with pytest.raises(ConfigError, match=r"datasets.music.copy: .* holds none of audio, frames"):
        open_copy(tmp_path, "datasets.music.copy")
    with pytest.raises(ConfigError, match=r"wrapper/MUSIC does: point the key at .*wrapper/MUSIC$"):
        open_copy(tmp_path / "wrapper", "datasets.music.copy")
    assert open_copy(tmp_path / "wrapper" / "MUSIC", "k").root == tmp_path / "wrapper" / "MUSIC"
    clips = tmp_path / "clips"
    clips.mkdir()
    (clips / "abc.mp4").write_bytes(b"x")
    assert open_copy(clips, "k").root == clips  # a folder of clips has no layout folders


def test_files_no_video_owns_are_listed(tmp_path):
    for rel in (
        "audio/cello/a.wav", "audio/cello/zz.wav", "audio/celo/b.wav",
        "frames/cello/a.mp4/000001.jpg", "detection_results/flute/b.mp4.npy",
        "motion_features/flute/b.mp4.npz", "motion_features/flute/b.npy", "b.mp4", "c.mp4",
    ):  # fmt: skip
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    found = unmatched_files(Copy(tmp_path), [("cello", "a"), ("flute", "b")])
    assert found == [
        "audio/cello/zz.wav", "audio/celo/b.wav", "motion_features/flute/b.npy", "c.mp4",
    ]  # fmt: skip
