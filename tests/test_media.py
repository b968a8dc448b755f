"""The audio and frame stages on good and bad inputs made in the session (see conftest)."""

import numpy as np
import pytest
from PIL import Image

from iquery.pipeline.core.errors import MediaError
from iquery.pipeline.media.ffmpeg import make_frames, make_wav, probe, read_wav


def test_audio_exact_length_and_format(media, tmp_path):
    wav = tmp_path / "a.wav"
    info = make_wav(media["good"], wav, rate=11025, min_seconds=5.9)
    samples, rate = read_wav(wav)
    assert rate == 11025
    assert samples.size == round(8.0 * 11025) == info["samples"]
    assert samples.dtype == np.int16 and np.abs(samples).max() > 1000
    # A 440 Hz sine survives the resampling at the right pitch.
    spectrum = np.abs(np.fft.rfft(samples.astype(float)))
    assert abs(np.argmax(spectrum) * rate / samples.size - 440) < 2


def test_audio_surround_48k_downmixed(media, tmp_path):
    meta = probe(media["surround"])
    assert (meta.audio_rate, meta.audio_channels) == (48000, 6)
    info = make_wav(media["surround"], tmp_path / "s.wav", rate=22000, min_seconds=0)
    samples, rate = read_wav(tmp_path / "s.wav")
    assert rate == 22000 and samples.size == round(8.0 * 22000) == info["samples"]
    assert np.abs(samples).max() > 1000


def test_audio_segment(media, tmp_path):
    seg = tmp_path / "seg.wav"
    info = make_wav(media["good"], seg, rate=22000, segment=(2.0, 4.5), min_seconds=0)
    assert info["samples"] == round(2.5 * 22000)


@pytest.mark.parametrize(
    "name, message",
    [
        ("no_audio", "no audio track"),
        ("short", "too short"),
        ("truncated", "truncated"),
        ("truncated_nomoov", "cannot read container"),
        ("not_video", "cannot read container"),
    ],
)
def test_audio_refuses_bad_inputs(media, tmp_path, name, message):
    wav = tmp_path / "x.wav"
    with pytest.raises(MediaError, match=message) as refused:
        make_wav(media[name], wav, rate=11025, min_seconds=65535 / 11025)
    assert "version" not in str(refused.value)  # the reason, not ffmpeg's banner
    assert not wav.exists()
    assert not list(tmp_path.iterdir())  # no temp file left behind


def test_video_longer_than_its_audio_is_usable(media, tmp_path):
    """Each stream is judged by its own length: 7 s of sound under 10 s of picture."""
    info = make_wav(media["long_video"], tmp_path / "a.wav", rate=11025, min_seconds=5.9)
    assert abs(info["seconds"] - 7.0) < 0.05
    frames = make_frames(media["long_video"], tmp_path / "f", fps=1, min_frames=3)
    assert frames["count"] == 10


def test_frames_count_and_layout(media, tmp_path):
    out = tmp_path / "frames" / "good.mp4"
    info = make_frames(media["good"], out, fps=1, min_frames=3)
    assert info["count"] == 8
    assert sorted(p.name for p in out.iterdir())[:2] == ["000001.jpg", "000002.jpg"]
    assert Image.open(out / "000001.jpg").size == (320, 240)


def test_frames_portrait_keeps_orientation(media, tmp_path):
    out = tmp_path / "p"
    make_frames(media["portrait"], out, fps=1, min_frames=1)
    assert Image.open(out / "000003.jpg").size == (240, 320)
    make_frames(media["portrait"], out, fps=1, max_side=160, min_frames=1)  # replaces the folder
    assert Image.open(out / "000003.jpg").size == (120, 160)
    assert len(list(out.iterdir())) == 8


def test_frames_variable_frame_rate(media, tmp_path):
    info = make_frames(media["vfr"], tmp_path / "v", fps=2, min_frames=1)
    # One picture every half second, gaps filled by repeating the last picture; the final
    # interval ends after the last kept frame, so 15 or 16.
    assert info["count"] in (15, 16)


def test_frames_segment_and_higher_rate(media, tmp_path):
    info = make_frames(media["good"], tmp_path / "s", fps=25, segment=(1.0, 3.0), min_frames=1)
    assert info["count"] == 50


@pytest.mark.parametrize(
    "name, message",
    [("short", "too short"), ("truncated", "truncated"), ("not_video", "cannot read")],
)
def test_frames_refuse_bad_inputs(media, tmp_path, name, message):
    out = tmp_path / "f"
    with pytest.raises(MediaError, match=message):
        make_frames(media[name], out, fps=1, min_frames=3)
    assert not out.exists() and not list(tmp_path.iterdir())


@pytest.mark.parametrize("segment", [None, (2.0, 4.5)])
def test_audio_is_copied_a_block_at_a_time_to_the_same_bytes(media, tmp_path, monkeypatch, segment):
    """The WAV is decoded to a scratch file and copied in blocks (a long video's sound is never
    held): the bytes are those of the samples decoded whole, and no scratch file is left."""
    from iquery.pipeline.media import ffmpeg as media_ffmpeg

    samples, _ = media_ffmpeg.decode_audio(media["good"], 11025, segment=segment)
    media_ffmpeg.write_wav(tmp_path / "whole.wav", samples, 11025)
    monkeypatch.setattr(media_ffmpeg, "COPY_BLOCK", 1000)  # many blocks, the last one short
    out = tmp_path / "out" / "blocks.wav"
    make_wav(media["good"], out, rate=11025, min_seconds=0, segment=segment)
    assert out.read_bytes() == (tmp_path / "whole.wav").read_bytes()
    assert [p.name for p in out.parent.iterdir()] == ["blocks.wav"]
