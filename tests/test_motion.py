"""I3D backbones and motion tokens: shapes, strides, time spans, the three public checkpoint
layouts (saved random weights through the same loader a real file takes), and bad inputs."""

from __future__ import annotations

import hashlib
import sys
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from iquery.pipeline.motion.extractor import MotionExtractor, clip_windows, load_frames, token_spans
from iquery.pipeline.motion.i3d import (
    _HEAD_PREFIXES,
    CheckpointError,
    I3DResNet50,
    InceptionI3d,
    SwitchableBatchNorm3d,
    build_backbone,
    fame_key,
    load_weights,
    param_count,
    read_checkpoint,
)
from iquery.pipeline.motion.tokens import load_tokens, save_tokens

torch.set_num_threads(1)

# sha256 of the sorted "key:shape" lines of each reference model's trunk, computed from the
# reference code itself in a scratch environment: FAME's backbone/i3d.py I3D (id_head left out),
# piergiaj/pytorch-i3d's InceptionI3d (logits left out) and pytorchvideo 0.1.5
# hub.i3d_r50(pretrained=False) (blocks.6 head left out). The last is the layout of
# I3D_8x8_R50.pyth; it pins the installed pytorchvideo to what that file needs.
FAME_DIGEST = ("7e3b9d83bdb640e5ad7383946e5e7c090f3b1a52b22f2deb0932467b3194a63b", 342)
PIERGIAJ_DIGEST = ("d2dd66663ccfbdef5974d4d1502792dff7a13e214de3083581bbdcbfe60cf6ba", 342)
PYTORCHVIDEO_DIGEST = ("c758a35902b28a0af343167c8de2bb5456ff3e8160fa22bfe8e3d915d226dfd9", 318)

# Our key -> FAME's, written independently of iquery.pipeline.motion.i3d.fame_key (which maps the
# other way).
_TO_FAME_BRANCH = {
    "b0": "branch_0",
    "b1a": "branch_1.0",
    "b1b": "branch_1.1",
    "b2a": "branch_2.0",
    "b2b": "branch_2.1",
    "b3b": "branch_3.1",
}


def to_fame(key: str) -> str:
    top, rest = key.split(".", 1)
    top = top.lower()
    if top.startswith("mixed_"):
        branch, rest = rest.split(".", 1)
        top = f"{top}.{_TO_FAME_BRANCH[branch]}"
    leaf, param = rest.split(".")
    return f"{top}.{'batch3d' if leaf == 'bn' else leaf}.{param}"


def digest(state: dict[str, torch.Tensor]) -> tuple[str, int]:
    lines = sorted(f"{k}:{tuple(v.shape)}" for k, v in state.items())
    return hashlib.sha256("\n".join(lines).encode()).hexdigest(), len(lines)


def randomize(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Random weights and BN statistics of sane scale, so outputs depend on every tensor."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if not t.dtype.is_floating_point:
                t.fill_(3)
            elif name.endswith("running_var") or (t.dim() == 1 and name.endswith("weight")):
                t.copy_(torch.rand(t.shape, generator=g) + 0.5)
            elif t.dim() == 1:
                t.copy_(torch.randn(t.shape, generator=g) * 0.1)
            else:
                t.copy_(torch.randn(t.shape, generator=g) * (2.0 / t[0].numel()) ** 0.5)
    return model.eval()


def assert_close_to_scale(a, b, rel=1e-3):
    """Batched and single runs differ by float noise, which per-sample BN statistics amplify in
    the small late maps (about 1e-4 of the output scale); compare against that scale."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape
    assert np.abs(a - b).max() <= rel * np.abs(b).max()


def run(model, x):
    with torch.inference_mode():
        return model(x)


@pytest.fixture(scope="module")
def video16():
    return torch.rand(2, 3, 16, 64, 64, generator=torch.Generator().manual_seed(1))


@pytest.fixture(scope="module")
def r50():
    return randomize(I3DResNet50(), 2)


@pytest.fixture(scope="module")
def pytorchvideo_r50():
    """The unmodified pytorchvideo model, head and plain BatchNorm3d included, random weights."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # fvcore's torch.jit.script at import
        from pytorchvideo.models.hub import i3d_r50
    return randomize(i3d_r50(pretrained=False), 8)


# --------------------------------------------------------------------------------------------
# Backbones


def test_inception_shapes_and_strides(video16):
    m = build_backbone("inception")
    assert (m.channels, m.temporal_stride, m.spatial_stride) == (1024, 8, 32)
    assert (m.variant, m.input_norm, m.norm_stats, m.weights_sha256) == (
        "fame",
        "none",
        "per_video",
        "random",
    )
    assert param_count(m) == 12_287_264
    assert run(m, video16).shape == (2, 1024, 2, 2, 2)
    pj = build_backbone("inception", variant="piergiaj")
    assert run(pj, torch.rand(1, 3, 17, 63, 65)).shape == (1, 1024, 3, 2, 3)


def test_r50_shapes_and_strides(r50, video16):
    assert (r50.channels, r50.temporal_stride, r50.spatial_stride) == (2048, 2, 32)
    assert (r50.input_norm, r50.norm_stats, r50.extractor) == ("kinetics", "running", "i3d-r50")
    assert param_count(r50) == 27_223_872  # i3d_r50's 28.0 M less the 400-way head
    assert run(r50, video16).shape == (2, 2048, 8, 2, 2)
    # The trunk is pytorchvideo's own modules, every BN our switchable one.
    assert type(r50.blocks[1]).__module__ == "pytorchvideo.models.resnet"
    bns = [m for m in r50.modules() if isinstance(m, torch.nn.BatchNorm3d)]
    assert len(bns) == 53 and all(isinstance(m, SwitchableBatchNorm3d) for m in bns)
    # Its transforms package fails to import with our torchvision; it must never be needed.
    assert "pytorchvideo.transforms" not in sys.modules


def test_key_layouts_match_the_reference_code(r50, pytorchvideo_r50):
    ours = InceptionI3d().state_dict()
    assert digest(ours) == PIERGIAJ_DIGEST
    assert digest({to_fame(k): v for k, v in ours.items()}) == FAME_DIGEST
    assert all(fame_key(to_fame(k)) == k for k in ours)
    # The installed pytorchvideo still has the weights file's layout, and our trunk is exactly
    # it less the head keys that read_checkpoint drops.
    full = pytorchvideo_r50.state_dict()
    head = [k for k in full if k.startswith(_HEAD_PREFIXES["pytorchvideo"])]
    assert head == ["blocks.6.proj.weight", "blocks.6.proj.bias"]
    trunk = {k: v for k, v in full.items() if k not in head}
    assert digest(trunk) == PYTORCHVIDEO_DIGEST
    assert digest(r50.state_dict()) == PYTORCHVIDEO_DIGEST


def test_variants_agree_where_sizes_divide_and_differ_elsewhere():
    fame = randomize(InceptionI3d("fame", norm_stats="running"), 3)
    pj = InceptionI3d("piergiaj", input_norm="none").eval()
    pj.load_state_dict(fame.state_dict())
    for m in pj.modules():
        if isinstance(m, torch.nn.BatchNorm3d):
            m.eps = 1e-5  # the only other difference between the ports
    x = torch.rand(1, 3, 16, 64, 64)
    torch.testing.assert_close(run(pj, x), run(fame, x))
    odd = torch.rand(1, 3, 17, 63, 65)
    assert run(fame, odd).shape[2] == 2 and run(pj, odd).shape[2] == 3


def test_per_video_stats_batch_like_one_video_at_a_time(video16):
    m = randomize(InceptionI3d(), 4)
    both = run(m, video16)
    one = torch.cat([run(m, video16[i : i + 1]) for i in range(2)])
    assert_close_to_scale(both, one)
    with pytest.raises(ValueError, match="too small for per-video BatchNorm"):
        run(m, torch.rand(1, 3, 8, 32, 32))


# --------------------------------------------------------------------------------------------
# Checkpoints in the public layouts


def test_fame_checkpoint_loads(tmp_path, video16):
    src = randomize(InceptionI3d("fame"), 5)
    trunk = {to_fame(k): v for k, v in src.state_dict().items()}
    head = {"id_head.2.weight": torch.randn(1024, 1024), "id_head.4.bias": torch.randn(128)}
    state = {f"module.encoder_q.{k}": v for k, v in {**trunk, **head}.items()}
    state |= {f"module.encoder_k.{k}": v.clone() for k, v in trunk.items()}
    state |= {"module.queue": torch.randn(128, 16), "module.queue_ptr": torch.zeros(1).long()}
    opt = {"state": {}, "param_groups": [{"lr": 0.03, "params": [0, 1]}]}
    path = tmp_path / "I3D_pretrained.pth.tar"
    torch.save({"epoch": 200, "arch": "I3D", "state_dict": state, "optimizer": opt}, path)

    ckpt = read_checkpoint(path, "inception")
    assert ckpt.layout == "fame" and sorted(ckpt.dropped) == sorted(head)
    m = build_backbone("inception", path)
    assert (m.variant, m.norm_stats, m.weights_layout) == ("fame", "per_video", "fame")
    assert m.weights_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert torch.equal(run(m, video16), run(src, video16))


def test_piergiaj_checkpoint_loads(tmp_path, video16):
    src = randomize(InceptionI3d("piergiaj"), 6)
    # rgb_imagenet.pt predates BN counters and is in the legacy (non-zip) format.
    state = {k: v for k, v in src.state_dict().items() if not k.endswith("num_batches_tracked")}
    state |= {"logits.conv3d.weight": torch.randn(400, 1024, 1, 1, 1)}
    state |= {"logits.conv3d.bias": torch.randn(400)}
    path = tmp_path / "rgb_imagenet.pt"
    torch.save(state, path, _use_new_zipfile_serialization=False)
    m = build_backbone("inception", path)
    assert (m.variant, m.input_norm, m.norm_stats) == ("piergiaj", "minus1_1", "running")
    assert torch.equal(run(m, video16), run(src, video16))


def test_pytorchvideo_checkpoint_loads(tmp_path, pytorchvideo_r50, video16):
    # Saved from the unmodified pytorchvideo model, head included, as I3D_8x8_R50.pyth is.
    path = tmp_path / "I3D_8x8_R50.pyth"
    torch.save({"epoch": 1, "model_state": pytorchvideo_r50.state_dict()}, path)
    m = build_backbone("r50", path)
    assert m.weights_layout == "pytorchvideo" and m.input_norm == "kinetics"
    assert m.weights_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert read_checkpoint(path, "r50").dropped == ["blocks.6.proj.weight", "blocks.6.proj.bias"]
    x = m.scale_input(video16)
    with torch.inference_mode():
        for block in pytorchvideo_r50.blocks[:6]:
            x = block(x)
    assert torch.equal(run(m, video16), x)

    # A trunk key missing: refused when strict, loaded around and reported when lenient.
    state = {
        k: v for k, v in pytorchvideo_r50.state_dict().items() if "blocks.5.res_blocks.2" not in k
    }
    partial = tmp_path / "partial_r50.pyth"
    torch.save({"model_state": state}, partial)
    with pytest.raises(CheckpointError, match=r"partial_r50.pyth .*missing keys: blocks\.5\."):
        build_backbone("r50", partial)
    report = load_weights(I3DResNet50(), partial, strict=False)
    assert report.missing and all(k.startswith("blocks.5.res_blocks.2.") for k in report.missing)
    assert report.dropped == ["blocks.6.proj.weight", "blocks.6.proj.bias"]


def test_r50_per_video_stats_batch_like_one_video_at_a_time(video16):
    m = randomize(I3DResNet50(norm_stats="per_video"), 9)
    assert m.norm_stats == "per_video"
    both = run(m, video16)
    one = torch.cat([run(m, video16[i : i + 1]) for i in range(2)])
    assert_close_to_scale(both, one)
    m.set_norm_stats("running")  # the switch reaches pytorchvideo's layers
    assert not torch.allclose(run(m, video16), both)
    m.set_norm_stats("per_video")
    with pytest.raises(ValueError, match="too small for per-video BatchNorm"):
        run(m, torch.rand(1, 3, 2, 32, 32))


def test_bad_checkpoints_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.pt"):
        build_backbone("inception", tmp_path / "nowhere.pt")

    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint\n" * 10)
    with pytest.raises(CheckpointError, match="garbage.pt: not a torch file"):
        build_backbone("inception", garbage)

    whole = tmp_path / "whole.pt"
    torch.save(InceptionI3d().state_dict(), whole)
    cut = tmp_path / "truncated.pt"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="truncated.pt: not a readable weights file"):
        build_backbone("inception", cut)

    wrong = tmp_path / "wrong_keys.pt"
    torch.save({"encoder.layer1.weight": torch.zeros(3)}, wrong)
    with pytest.raises(CheckpointError, match=r"wrong_keys.pt: not a known I3D layout.*encoder"):
        build_backbone("inception", wrong)

    with pytest.raises(CheckpointError, match="whole.pt: holds piergiaj weights"):
        build_backbone("r50", whole)


def test_missing_keys_strict_and_lenient(tmp_path):
    src = randomize(InceptionI3d("piergiaj"), 7)
    state = {k: v for k, v in src.state_dict().items() if not k.startswith("Mixed_5c.")}
    state["Mixed_9z.b0.conv3d.weight"] = torch.zeros(1)
    path = tmp_path / "partial.pt"
    torch.save(state, path)
    with pytest.raises(CheckpointError, match=r"partial.pt .*missing keys: Mixed_5c\..*unexpected"):
        build_backbone("inception", path)
    m = InceptionI3d("piergiaj")
    report = load_weights(m, path, strict=False)
    assert report.unexpected == ["Mixed_9z.b0.conv3d.weight"]
    assert report.missing and all(k.startswith("Mixed_5c.") for k in report.missing)
    assert torch.equal(m.Mixed_3b.b0.conv3d.weight, src.Mixed_3b.b0.conv3d.weight)


# --------------------------------------------------------------------------------------------
# Motion tokens


def write_frames(folder, n, size=(32, 32), seed=0):
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for i in range(1, n + 1):
        frame = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
        Image.fromarray(frame).save(folder / f"{i:06d}.jpg", quality=95)
    return folder


def test_paper_mode_caps_at_160_frames_of_1_fps(tmp_path):
    folder = write_frames(tmp_path / "vid.mp4", 200)
    mt = MotionExtractor("inception", device="cpu").extract(folder, 1.0, 160)
    assert mt.num_frames == 160 and mt.frame_size == (32, 32)
    assert mt.tokens.shape == (20, 1024) and mt.tokens.dtype == np.float32
    np.testing.assert_array_equal(mt.spans, np.stack([np.arange(20) * 8, np.arange(1, 21) * 8], 1))
    assert mt.spans.dtype == np.float32 and mt.weights_sha256 == "random"
    assert mt.extractor == "i3d-inception-fame input=none bn=per_video short=full"
    np.testing.assert_array_equal(mt.windows, [[0, 160]])
    assert not mt.clip_index.any()


def test_r50_tokens_and_spans_of_an_array(tmp_path):
    frames = np.random.default_rng(1).integers(0, 256, (21, 48, 40, 3), dtype=np.uint8)
    ex = MotionExtractor("r50", device="cpu", resize_short=32, dtype="float16")
    mt = ex.extract(frames, fps=2.0, max_frames=160)
    assert mt.frame_size == (38, 32) and mt.tokens.shape == (10, 2048)
    assert mt.tokens.dtype == np.float16
    # 21 frames at 2 fps, stride 2: ten tokens of 1 s; frame 20 falls outside the floor pool.
    np.testing.assert_array_equal(mt.spans[[0, -1]], [[0.0, 1.0], [9.0, 10.0]])
    assert token_spans(3, 21, 8, 1.0).tolist() == [[0, 8], [8, 16], [16, 21]]


def test_clip_mode_windows_and_spans():
    assert clip_windows(40, 16) == [(0, 16), (16, 32), (24, 40)]
    assert clip_windows(40, 16, hop=12) == [(0, 16), (12, 28), (24, 40)]
    assert clip_windows(10, 16) == [(0, 10)]
    frames = np.random.default_rng(2).integers(0, 256, (40, 64, 64, 3), dtype=np.uint8)
    ex = MotionExtractor("inception", device="cpu", batch_size=2)
    mt = ex.extract_clips(frames, fps=8.0, clip_frames=16)
    assert mt.tokens.shape == (6, 1024)
    assert mt.clip_index.tolist() == [0, 0, 1, 1, 2, 2]
    np.testing.assert_array_equal(mt.windows, [[0, 2], [2, 4], [3, 5]])
    np.testing.assert_array_equal(mt.spans, [[0, 1], [1, 2], [2, 3], [3, 4], [3, 4], [4, 5]])
    # A window's tokens are those of its frames alone.
    first = ex.extract(frames[:16], fps=8.0, max_frames=160)
    assert_close_to_scale(mt.tokens[:2], first.tokens)


def test_batched_videos_match_one_at_a_time():
    rng = np.random.default_rng(3)
    videos = [rng.integers(0, 256, (16, 64, 64, 3), dtype=np.uint8) for _ in range(2)]
    videos.append(rng.integers(0, 256, (24, 64, 96, 3), dtype=np.uint8))
    ex = MotionExtractor("inception", device="cpu")
    many = ex.extract_many(videos, fps=1.0, max_frames=160)
    assert [m.tokens.shape for m in many] == [(2, 1024), (2, 1024), (3, 1024)]
    for video, got in zip(videos, many, strict=True):
        assert_close_to_scale(got.tokens, ex.extract(video, 1.0, 160).tokens)


def test_tokens_npz_round_trip(tmp_path):
    frames = np.random.default_rng(4).integers(0, 256, (16, 64, 64, 3), dtype=np.uint8)
    mt = MotionExtractor("inception", device="cpu").extract_clips(frames, 8.0, clip_frames=8)
    path = tmp_path / "out" / "vid.npz"
    save_tokens(path, mt)
    back = load_tokens(path)
    for field in ("tokens", "spans", "clip_index", "windows"):
        np.testing.assert_array_equal(getattr(back, field), getattr(mt, field))
    assert (back.extractor, back.weights_sha256, back.frame_rate) == (mt.extractor, "random", 8.0)
    assert (back.num_frames, back.frame_size) == (16, (64, 64))
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"garbage")
    with pytest.raises(ValueError, match="bad.npz: cannot be read"):
        load_tokens(bad)


def test_bad_frame_inputs_name_the_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="frames folder .*missing.mp4 does not exist"):
        load_frames(tmp_path / "missing.mp4")
    empty = tmp_path / "empty.mp4"
    empty.mkdir()
    (empty / "notes.txt").write_text("no frames here")
    with pytest.raises(ValueError, match="frames folder .*empty.mp4 holds no frames"):
        load_frames(empty)
    gap = write_frames(tmp_path / "gap.mp4", 5)
    (gap / "000003.jpg").unlink()
    with pytest.raises(ValueError, match="gap.mp4: numbering .*expected frame 3"):
        load_frames(gap)
    assert load_frames(gap, max_frames=2).shape == (2, 32, 32, 3)
    with pytest.raises(ValueError, match="zero frames"):
        load_frames(np.zeros((0, 8, 8, 3), np.uint8))
    ex = MotionExtractor("r50", device="cpu")
    with pytest.raises(ValueError, match="at least 2 frames"):
        ex.extract(np.zeros((1, 32, 32, 3), np.uint8), 1.0, 160)
