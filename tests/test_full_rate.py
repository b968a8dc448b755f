"""Tracks at the video's own rate and channels: masks from the model's rate carried onto the
video's own STFT, the high band by a rule, and the tracks adding up to the sound exactly."""

import numpy as np
import pytest

from iquery.model.full_rate import HIGH_BAND_RULES, apply_masks, full_rate_grid
from iquery.model.separation import separate_audio
from tests.test_separate import CLIP, RATE, band_masks, jpeg, sdr, tiny_system

FULL = 22050  # the video's rate: twice the model's
SECONDS = 3 * CLIP / RATE


def tone(freq: float, rate: int, amplitude: float = 0.3) -> np.ndarray:
    t = np.arange(round(SECONDS * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.fixture(scope="module")
def stereo():
    """Left: a 110 Hz hum (the low band: cello's); right: a 3 kHz tone (the other class's) and
    an 8 kHz one, above the model's Nyquist frequency (5512.5 Hz)."""
    left, right, air = tone(110, FULL), tone(3000, FULL), tone(8000, FULL, 0.1)
    sound = np.stack([left, right + air])
    system = tiny_system("nomotion")
    system.mask_logits = band_masks
    mono = (tone(110, RATE) + tone(3000, RATE)) / 2
    result = separate_audio(
        system,
        mono,
        rate=RATE,
        fps=1.0,
        n_frames=3,
        class_indices=[0, 2],
        crops=lambda k, frames: [jpeg()] * len(frames),
    )
    return {"sound": sound, "left": left, "right": right, "air": air, "masks": result["masks"]}


def test_the_grid_spans_the_same_seconds():
    class Timeline:
        rate, n_fft, hop = 11025, 1022, 256

    assert full_rate_grid(Timeline, 22050) == (2044, 512)
    assert full_rate_grid(Timeline, 48000) == (4450, 1115)


@pytest.mark.parametrize("rule", HIGH_BAND_RULES)
def test_tracks_at_full_rate_add_up_and_hold_their_band(stereo, rule):
    tracks, residual = apply_masks(stereo["masks"], stereo["sound"], FULL, high_band=rule)
    assert tracks.shape == (2, 2, stereo["sound"].shape[1]) and residual.shape == (
        2,
        tracks.shape[2],
    )
    np.testing.assert_allclose(tracks.sum(axis=0) + residual, stereo["sound"], atol=1e-6)
    inner = slice(FULL, -FULL)  # away from the two ends
    cello, other = tracks
    assert sdr(stereo["left"][inner], cello[0][inner]) > 15
    high = {"share": stereo["right"] + stereo["air"], "edge": stereo["right"] + stereo["air"]}
    wanted = high.get(rule, stereo["right"])  # "none" leaves the 8 kHz tone to the residual
    assert sdr(wanted[inner], other[1][inner]) > 15, rule
    if rule == "none":
        assert sdr(stereo["air"][inner], residual[1][inner]) > 15


def test_an_unknown_rule_is_named(stereo):
    with pytest.raises(ValueError, match="high-band rule 'all'"):
        apply_masks(stereo["masks"], stereo["sound"], FULL, high_band="all")


@pytest.mark.parametrize("rule", ["share", "none"])
def test_blocks_give_what_one_pass_gives(stereo, rule):
    """Separated in half-second blocks (written as they come), the tracks and residual equal one
    pass over the whole sound, seams included."""
    from iquery.model.full_rate import apply_masks_in_blocks

    sound = stereo["sound"]
    whole = apply_masks(stereo["masks"], sound, FULL, high_band=rule)
    pieces, starts = [], []

    def write(start, block, tracks, residual):
        starts.append(start)
        pieces.append((tracks, residual))

    apply_masks_in_blocks(
        stereo["masks"],
        lambda start, end: sound[:, start:end],
        sound.shape[1],
        FULL,
        write,
        block_seconds=0.5,
        high_band=rule,
    )
    assert len(pieces) > 4 and starts == sorted(starts)
    tracks = np.concatenate([t for t, _ in pieces], axis=2)
    residual = np.concatenate([r for _, r in pieces], axis=1)
    np.testing.assert_allclose(tracks, whole[0], atol=1e-6)
    np.testing.assert_allclose(residual, whole[1], atol=1e-6)


def test_streaming_hands_out_what_one_pass_would(tmp_path):
    """A sound separated a window at a time, its tracks handed out as they are final and its
    masks written to a file, must equal the separation held whole, for any batch of windows:
    a long video is separated in the memory of a few windows, and nothing changes."""
    from iquery.model.full_rate import MaskStore
    from iquery.model.separation import array_reader, separate_stream

    system = tiny_system("nomotion")
    rng = np.random.default_rng(3)
    mono = (0.3 * rng.standard_normal(5 * CLIP + 123)).astype(np.float32)
    options = {
        "rate": RATE,
        "fps": 1.0,
        "n_frames": 6,
        "class_indices": [0, 2],
        "crops": lambda k, frames: [jpeg()] * len(frames),
    }
    whole = separate_audio(system, mono, batch_size=64, **options)
    for batch_size, store in [(1, MaskStore(tmp_path / "masks.f32")), (3, MaskStore())]:
        pieces = []
        windows = separate_stream(
            system,
            array_reader(mono),
            len(mono),
            tracks_to=pieces.append,
            masks_to=store,
            batch_size=batch_size,
            **options,
        )
        assert len(pieces) > 2  # handed out as it went, not at the end
        np.testing.assert_allclose(np.concatenate(pieces, axis=-1), whole["tracks"], atol=1e-6)
        timeline = store.timeline()
        assert timeline.shape == whole["masks"].shape and windows == whole["windows"]
        frames = timeline.shape[2]
        np.testing.assert_allclose(
            timeline.frames(0, frames), whole["masks"].frames(0, frames), atol=1e-6
        )
        np.testing.assert_array_equal(timeline.frames(7, 9), timeline.frames(0, frames)[..., 7:9])


def test_a_wav_is_read_a_stretch_at_a_time_with_silence_beyond_its_ends(tmp_path):
    from iquery.pipeline.media.ffmpeg import WavReader, write_wav

    samples = (np.arange(200, dtype=np.int16) * 100).reshape(100, 2)
    write_wav(tmp_path / "s.wav", samples, 8000)
    with WavReader(tmp_path / "s.wav") as sound:
        assert (sound.rate, sound.channels, sound.length) == (8000, 2, 100)
        stretch = sound.read(-3, 5)
        assert stretch.shape == (2, 8)
        np.testing.assert_array_equal(stretch[:, :3], 0)
        np.testing.assert_allclose(stretch[:, 3:] * 32768, samples[:5].T)
        assert not sound.read(98, 104)[:, 2:].any() and sound.read(98, 104)[0, 0] != 0
