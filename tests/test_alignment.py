"""Sound and pictures line up: a video that flashes white and beeps over the same quarter second
goes through the audio and frames stages and into a shard; the frames that show the flash, the
samples that hold the beep and the loader's clips must agree to within a few milliseconds. A
one-frame shift (125 ms at 8 fps) would fail every check here."""

import numpy as np
import pytest
import torch

from iquery.cli.index_shards import main as index_shards
from iquery.cli.make_shard import main as make_shard
from iquery.model.shard_dataset import ClipSpec, MixDataset, read_shard_index
from iquery.pipeline.core.layout import Layout
from iquery.pipeline.detection.rows import save_rows
from iquery.pipeline.media.ffmpeg import make_frames, make_wav, read_wav, write_wav
from tests.conftest import ffmpeg
from tests.test_shards import shard_args

FPS, RATE = 8, 11025
FLASH = (3.0, 3.25)  # seconds: white picture and a 1 kHz beep; black and silent otherwise
SECONDS = 6.0
TOLERANCE_S = 0.01


def flash_video(path, flash=FLASH, seconds=SECONDS):
    """A 25 fps H.264/AAC MP4 whose picture and sound both start at ``flash[0]``."""
    on = f"between({{t}},{flash[0]},{flash[1] - 1e-3})"  # geq names time T, aevalsrc t
    ffmpeg(
        *("-f", "lavfi", "-i", f"color=c=black:size=160x120:rate=25:duration={seconds}"),
        *(
            "-f",
            "lavfi",
            "-i",
            f"aevalsrc='0.8*sin(2*PI*1000*t)*{on.format(t='t')}':s=44100:d={seconds}",
        ),
        *("-vf", f"geq=lum='if({on.format(t='T')},235,16)':cb=128:cr=128"),
        *("-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac"),
        str(path),
    )
    return path


def onset_seconds(samples: np.ndarray, rate: int) -> float:
    """Where the beep starts: the first 2 ms block whose RMS passes half the loudest block's."""
    block = int(0.002 * rate)
    blocks = samples[: len(samples) // block * block].astype(np.float64).reshape(-1, block)
    rms = np.sqrt((blocks**2).mean(1))
    first = int(np.argmax(rms > rms.max() / 2))
    within = np.abs(blocks[first]) > np.abs(blocks[first]).max() / 4
    return (first * block + int(np.argmax(within))) / rate


def bright(frames_folder) -> list[int]:
    from PIL import Image

    jpgs = sorted(frames_folder.glob("*.jpg"))
    return [k + 1 for k, p in enumerate(jpgs) if np.asarray(Image.open(p)).mean() > 128]


@pytest.mark.parametrize("segment", [None, (1.0, 5.5)], ids=["whole", "segment"])
def test_frames_and_audio_show_the_flash_at_its_time(tmp_path, segment):
    """Frame k is the picture at (k - 0.5) / fps and sample n the sound at n / rate, both from
    the segment's start when the dataset has segments (AVE)."""
    video = flash_video(tmp_path / "flash.mp4")
    frames = tmp_path / "frames"
    make_frames(video, frames, fps=FPS, min_frames=1, segment=segment)
    make_wav(video, tmp_path / "a.wav", rate=RATE, min_seconds=1, segment=segment)
    offset = segment[0] if segment else 0.0
    start, end = FLASH[0] - offset, FLASH[1] - offset
    expected = [k for k in range(1, 100) if start <= (k - 0.5) / FPS < end]
    assert expected == ([17, 18] if segment else [25, 26])
    assert bright(frames) == expected
    samples, rate = read_wav(tmp_path / "a.wav")
    assert abs(onset_seconds(samples, rate) - start) < TOLERANCE_S


@pytest.fixture
def flash_shards(tmp_path):
    """A video lit and beeping from 3 s to 5 s as a cello, a silent black one as a flute,
    through frames, audio and a whole-frame detection per frame into a train shard."""
    data = tmp_path / "data"
    layout = Layout(str(data))
    videos = [("cello", "flash"), ("flute", "dark")]
    # Lit from 3 s to the last second: half the training centres (frames 9 to 40) show it.
    flash_video(tmp_path / "flash.mp4", flash=(FLASH[0], SECONDS - 1))
    flash_video(tmp_path / "dark.mp4", flash=(SECONDS + 1, SECONDS + 2))  # never flashes
    for cls, vid in videos:
        source = tmp_path / f"{vid}.mp4"
        frames = make_frames(source, layout.frames("demo", cls, vid), fps=FPS, min_frames=1)
        rows = [[k, 0, 0.9, 0, 0, 160, 120] for k in range(1, frames["count"] + 1)]
        save_rows(layout.detections("demo", cls, vid), np.array(rows, dtype=np.float32))
    make_wav(
        tmp_path / "flash.mp4", layout.audio("demo", "cello", "flash"), rate=RATE, min_seconds=1
    )
    # The dark video is silent; a faint hum makes it a valid track without an onset.
    t = np.arange(int(SECONDS * RATE)) / RATE
    write_wav(
        layout.audio("demo", "flute", "dark"),
        (30 * np.sin(2 * np.pi * 50 * t)).astype(np.int16),
        RATE,
    )
    make_shard(shard_args(data, videos, 0, motion=False, fps=FPS))
    index = layout.shard_index("demo", "train")
    index_shards(["--split", "train", "--shards", layout.shard("demo", "train", 0), "--out", index])
    return index


def loud_at_centre(audio: torch.Tensor) -> bool:
    """Whether the beep sounds in the 20 ms around the clip's centre."""
    centre, half = audio.shape[-1] // 2, int(0.01 * RATE)
    return bool(audio[centre - half : centre + half].abs().max() > 0.2)


def test_the_loader_pairs_each_frame_with_its_sound(flash_shards):
    """Test pairs (the centre clip) and training samples (random centres, gains, crops, flips):
    the clip's middle frame shows the flash exactly when the beep sounds at the audio window's
    centre, and at the test clip's centre the beep started (k - 0.5) / fps - 3 s earlier."""
    refs = read_shard_index(flash_shards)
    spec = ClipSpec(clip_samples=4095, num_frames=3, frame_stride=1, frame_size=64)
    test = MixDataset(
        refs,
        spec=spec,
        frame_rate=FPS,
        pairs=[(("cello", "flash"), ("flute", "dark"))],
        use_motion=False,
    )
    sample = test[0]
    centre = 48 // 2 + 1  # frame 25, 3.0625 s: the first that shows the flash
    frames = sample["frames"][0].float().mean(dim=(0, 2, 3))  # one brightness per frame
    assert (frames > 128).tolist() == [False, True, True]  # frames 24, 25, 26
    audio = sample["audio"][0].numpy()
    onset = onset_seconds(audio, RATE)  # from the window's start
    window_start = (centre - 0.5) / FPS - (spec.clip_samples // 2) / RATE
    assert abs(window_start + onset - FLASH[0]) < TOLERANCE_S
    train = MixDataset(refs, spec=spec, frame_rate=FPS, seed=5, dup=10, use_motion=False)
    seen = {True: 0, False: 0}
    for i in range(len(train)):
        item = train[i]
        for audio, frames in zip(item["audio"], item["frames"], strict=True):
            flashing = bool(frames[:, 1].float().mean() > 128)
            assert flashing == loud_at_centre(audio), i
            seen[flashing] += 1
    assert seen[True] >= 2 and seen[False] >= 2, seen  # both cases were drawn
