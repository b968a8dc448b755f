"""The motion encoder learned on a dataset's own videos, the tokens of a clip's own stretch, and
the probe that asks whether tokens carry motion."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from iquery.model.motion_pretraining import (
    TrainingVideo,
    pick_windows,
    pretrain_motion_encoder,
    window_targets,
)
from iquery.model.shard_dataset import ClipSpec, tokens_for_window
from iquery.pipeline.motion.i3d import build_backbone
from iquery.pipeline.motion.probe import ProbeData, probe_scores, span_targets, within


def test_a_clip_reads_the_tokens_of_its_own_stretch():
    spans = np.array([[0, 1], [1, 2], [2, 3], [3, 4]], dtype=np.float32)
    assert tokens_for_window(spans, 1.5, 3.0).tolist() == [1, 2]
    assert tokens_for_window(spans, -1.0, 0.5).tolist() == [0]
    # Past the frames the network saw: the nearest token, never none (the attention needs one).
    assert tokens_for_window(spans, 9.0, 12.0).tolist() == [3]
    # A checkpoint saved before the setting existed read the whole video's tokens.
    old = {"clip_samples": 10, "num_frames": 1, "frame_stride": 1, "frame_size": 8}
    assert ClipSpec.from_settings(old).motion_tokens == "video"


def test_the_whole_video_or_the_window_in_separation():
    from iquery.model.separation import VisualInputs, Windows

    windows = Windows.cover(4 * 100, 200)  # windows of 2 s at 100 Hz, hop 1 s
    tokens = np.arange(8, dtype=np.float32).reshape(4, 2)
    spans = np.array([[0, 1], [1, 2], [2, 3], [3, 4]], dtype=np.float64)

    def seen(kind):
        spec = ClipSpec(200, 1, 1, 8, motion_tokens=kind)
        return VisualInputs(windows, spec, 100, 1.0, 4, [0, 1], None, tokens, spans, "cpu")

    whole = seen("video").motion_batch(range(len(windows.starts)))
    assert whole["motion"].shape == (len(windows.starts), 2, 4, 2)
    assert not whole["motion_padding"].any()
    own = seen("clip").motion_batch(range(len(windows.starts)))
    # Window 1 covers seconds [0, 2) of the sound (the first starts a hop before it): tokens 0, 1.
    assert own["motion"][1, 0, :2].tolist() == tokens[:2].tolist()
    assert own["motion_padding"][1, 0].tolist() == [False, False]
    # The first window covers [-1, 1): token 0 only, the rest padding.
    assert own["motion_padding"][0, 0].tolist() == [False, True]
    with pytest.raises(ValueError, match="spans"):
        spec = ClipSpec(200, 1, 1, 8, motion_tokens="clip")
        VisualInputs(windows, spec, 100, 1.0, 4, [0], None, tokens, None, "cpu").motion_batch(
            range(1)
        )


def loud_and_quiet(seconds: int = 6, rate: int = 800, fps: float = 4.0, seed: int = 0):
    """A video whose picture brightens while its sound plays: one half-second note a second at
    a random time."""
    rng = np.random.default_rng(seed)
    n = int(seconds * fps)
    sound = np.zeros(seconds * rate, dtype=np.float32)
    frames = np.full((n, 32, 32, 3), 40, dtype=np.uint8)
    for s in range(seconds):
        at = s + rng.uniform(0, 0.5)
        lo, hi = int(at * rate), int((at + 0.5) * rate)
        sound[lo:hi] = 0.5 * np.sin(np.arange(hi - lo) * 0.3)
        frames[int(at * fps) : int((at + 0.5) * fps) + 1] = 220
    return TrainingVideo(frames, sound, fps, rate)


def test_windows_come_two_from_each_video():
    videos = [loud_and_quiet(seed=s) for s in range(5)]
    picks = pick_windows(videos, 8, 8, np.random.default_rng(0))
    assert len(picks) == 8
    for first, second in zip(picks[::2], picks[1::2], strict=True):
        assert first[0] == second[0] and abs(first[1] - second[1]) >= 4
    frames, sound = videos[0].window(4, 8)
    assert frames.shape[0] == 8 and sound.shape == (8 / 4.0 * 800,)


def test_each_token_is_taught_its_own_span_of_the_sound():
    videos = [loud_and_quiet(seed=s) for s in range(2)]
    truth = window_targets(videos, [(0, 0), (1, 8)], 16, 8)
    assert truth.shape == (2, 2, 2)  # two windows, two tokens each, loudness and rises
    spans = np.array([[2.0, 4.0], [4.0, 6.0]])  # video 1's frames 8-15 and 16-23 at 4 fps
    expected = span_targets(videos[1].sound, videos[1].audio_rate, spans)
    np.testing.assert_allclose(truth[1], expected)


@pytest.mark.parametrize("backbone", ["small", "inception"])
def test_the_learned_encoder_loads_as_the_motion_stage_loads_weights(tmp_path, backbone):
    videos = [loud_and_quiet(seed=s) for s in range(4)]
    options = {"backbone": backbone, "window_frames": 8, "steps": 2, "batch_size": 4, "lr": 1e-3}
    state, facts = pretrain_motion_encoder(videos, seed=0, log=None, **options)
    assert facts["steps"] == 2 and len(facts["r2_on_training_windows"]["after"]) == 2
    path = tmp_path / "i3d.pt"
    torch.save(state, path)
    network = build_backbone(backbone, path)
    assert network.weights_sha256 != "random" and network.norm_stats == "running"
    if backbone == "inception":  # the piergiaj layout: its variant and scaling, as trained
        assert network.variant == "piergiaj" and network.input_norm == "minus1_1"
    again, _ = pretrain_motion_encoder(videos, seed=0, log=None, **options)
    assert all(torch.equal(state[k], again[k]) for k in state), "same seed, same weights"
    with pytest.raises(ValueError, match="even"):
        pretrain_motion_encoder(videos, seed=0, **(options | {"batch_size": 5}))


def test_the_small_backbone_has_the_i3d_strides():
    network = build_backbone("small")
    out = network(torch.rand(2, 3, 16, 64, 96))
    assert out.shape == (2, 256, 2, 2, 3)
    with pytest.raises(Exception, match="small"):
        build_backbone("inception", _saved(network))


def _saved(network):
    import tempfile

    path = tempfile.mkdtemp() + "/small.pt"
    torch.save(network.state_dict(), path)
    return path


def test_span_targets_follow_the_sound():
    video = loud_and_quiet(seconds=4, seed=1)
    spans = np.array([[s, s + 1.0] for s in range(4)] + [[3.9, 5.0], [6.0, 7.0]])
    targets = span_targets(video.sound, video.audio_rate, spans)
    assert targets.shape == (6, 2)
    assert (targets[:4, 0] > -20).all() and targets[5, 0] == -80  # past the end: silence
    assert (targets[:4, 1] > 10).all()  # each second holds a note's onset
    groups = np.array([0, 0, 1, 1])
    assert np.allclose(within(np.array([1.0, 3.0, 5.0, 9.0]), groups), [-1, 1, -2, 2])


def test_the_probe_finds_what_tokens_hold_and_nothing_in_noise():
    rng = np.random.default_rng(0)

    def videos(informative: bool, count: int):
        out = []
        for _ in range(count):
            targets = rng.normal(size=(12, 2))
            noise = rng.normal(size=(12, 16))
            tokens = noise + (np.repeat(targets, 8, axis=1) if informative else 0)
            out.append((tokens, targets))
        return ProbeData.of(out)

    good = probe_scores(videos(True, 20), videos(True, 10), draws=200)
    noise = probe_scores(videos(False, 20), videos(False, 10), draws=200)
    assert (good["r2"] > 0.8).all() and (noise["r2"] < 0.2).all()
    assert good["draws"].shape == (200, 2)
    assert (np.percentile(good["draws"] - noise["draws"], 2.5, axis=0) > 0).all()
