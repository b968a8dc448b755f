"""Published iQuery checkpoints: layout, conversion, round trip, the published forward, errors.

The published layout below is written out by hand from the published networks at the paper's
MUSIC sizes (``UnetIquery`` with 64 base channels and 32 output channels, ``ResnetDilated`` over
ResNet-18 with a 32-channel head, ``TransformerPredictor[Motion]`` with width 256, 8 heads,
feed-forward 1024, 1 encoder and 4 decoder layers, 12 queries, mask size 32), so that the
converter is checked against the published names rather than against itself.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
import yaml

from iquery.cli import convert_published
from iquery.model.iquery import IQuery
from iquery.model.published import (
    PUBLISHED_CLASSES,
    convert_state_dicts,
    published_data,
    published_system,
    to_published,
)
from iquery.model.system import load_system
from iquery.pipeline.core.errors import ConfigError

torch.set_num_threads(2)

MUSIC = list(PUBLISHED_CLASSES["music"])
D, FFN, QUERIES, HEADS = 256, 1024, 12, 8
CONFIG = yaml.safe_load((Path(__file__).parents[1] / "config.yaml").read_text())


def music(variant: str = "iquery"):
    """The published MUSIC checkpoint's settings, as the converter takes them."""
    return published_data(CONFIG, "music", variant)


# ----------------------------------------------------------------------------------------------
# The published layout: key → shape


def batch_norm(prefix: str, n: int) -> dict[str, tuple]:
    names = ("weight", "bias", "running_mean", "running_var")
    return {f"{prefix}.{k}": (n,) for k in names} | {f"{prefix}.num_batches_tracked": ()}


def sound_layout() -> dict[str, tuple]:
    layout = batch_norm("bn0", 1)
    down = [(64, 1), (128, 64), (256, 128), (512, 256), (512, 512), (512, 512), (512, 512)]
    for level, (out, inp) in enumerate(down, start=1):
        layout[f"downconv{level}.weight"] = (out, inp, 4, 4)
    for level, n in zip(range(2, 7), (128, 256, 512, 512, 512), strict=True):
        layout |= batch_norm(f"downnorm{level}", n)
    up = {7: (512, 512), 6: (512, 1024), 5: (512, 1024), 4: (256, 1024), 3: (128, 512)}
    up |= {2: (64, 256), 1: (32, 128)}
    for level, (out, inp) in up.items():
        layout[f"upconv{level}.weight"] = (out, inp, 3, 3)  # no bias on any of them
        if level > 1:
            layout |= batch_norm(f"upnorm{level}", out)
    return layout


def frame_layout() -> dict[str, tuple]:
    layout = {"features.0.weight": (64, 3, 7, 7)} | batch_norm("features.1", 64)
    widths = {4: 64, 5: 128, 6: 256, 7: 512}  # layer1..layer4 at Sequential index 4..7
    for index, width in widths.items():
        for block in (0, 1):
            p = f"features.{index}.{block}"
            inp = width // 2 if block == 0 and index > 4 else width
            layout[f"{p}.conv1.weight"] = (width, inp, 3, 3)
            layout |= batch_norm(f"{p}.bn1", width)
            layout[f"{p}.conv2.weight"] = (width, width, 3, 3)
            layout |= batch_norm(f"{p}.bn2", width)
            if inp != width:
                layout[f"{p}.downsample.0.weight"] = (width, inp, 1, 1)
                layout |= batch_norm(f"{p}.downsample.1", width)
    return layout | {"fc.weight": (32, 512, 3, 3), "fc.bias": (32,)}


def attention(prefix: str) -> dict[str, tuple]:
    return {
        f"{prefix}.in_proj_weight": (3 * D, D),
        f"{prefix}.in_proj_bias": (3 * D,),
        f"{prefix}.out_proj.weight": (D, D),
        f"{prefix}.out_proj.bias": (D,),
    }


def linear(prefix: str, out: int, inp: int) -> dict[str, tuple]:
    return {f"{prefix}.weight": (out, inp), f"{prefix}.bias": (out,)}


def layer_norm(prefix: str) -> dict[str, tuple]:
    return {f"{prefix}.weight": (D,), f"{prefix}.bias": (D,)}


def maskformer_layout(motion: bool, queries: int = QUERIES) -> dict[str, tuple]:
    enc = "transformer.encoder.layers.0"
    layout = attention(f"{enc}.self_attn") | linear(f"{enc}.linear1", FFN, D)
    layout |= linear(f"{enc}.linear2", D, FFN) | layer_norm(f"{enc}.norm1")
    layout |= layer_norm(f"{enc}.norm2")
    for i in range(4):
        p = f"transformer.decoder.layers.{i}"
        layout |= attention(f"{p}.self_attn") | attention(f"{p}.multihead_attn")
        if motion:
            layout |= attention(f"{p}.cross_attn_motion") | layer_norm(f"{p}.norm4")
        layout |= linear(f"{p}.linear1", FFN, D) | linear(f"{p}.linear2", D, FFN)
        for norm in ("norm1", "norm2", "norm3"):
            layout |= layer_norm(f"{p}.{norm}")
    layout |= layer_norm("transformer.decoder.norm") | {"query_embed.weight": (queries, D)}
    layout |= {"upobj.weight": (D, 32, 1), "upobj.bias": (D,)}
    if motion:
        layout |= {"down.weight": (D, 1024, 1), "down.bias": (D,)}
    for i, (out, inp) in enumerate(((D, D), (D, D), (32, D))):
        layout |= linear(f"mask_embed.layers.{i}", out, inp)
    return layout


def unused_layout() -> set[str]:
    """Published keys of the motion model that the forward pass never reads."""
    first = "transformer.decoder.layers.0"
    keys = set(attention(f"{first}.self_attn")) | set(attention(f"{first}.multihead_attn"))
    keys |= set(layer_norm(f"{first}.norm1")) | set(layer_norm(f"{first}.norm2"))
    for i in (1, 2, 3):
        p = f"transformer.decoder.layers.{i}"
        keys |= set(attention(f"{p}.cross_attn_motion")) | set(layer_norm(f"{p}.norm4"))
    return keys


def random_state(layout: dict[str, tuple], seed: int) -> dict[str, torch.Tensor]:
    """Random tensors at scales that keep a forward pass finite (weights ~ 1/sqrt(fan-in))."""
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in layout.items():
        if key.endswith("num_batches_tracked"):
            value = torch.randint(0, 10**6, (), generator=gen)
        elif key.endswith("running_var"):
            value = 0.5 + torch.rand(shape, generator=gen)
        elif len(shape) > 1:
            fan_in = math.prod(shape[1:])
            value = torch.randn(shape, generator=gen) / math.sqrt(fan_in)
        elif key.endswith("weight"):  # BatchNorm and LayerNorm scales
            value = 1 + 0.1 * torch.randn(shape, generator=gen)
        else:
            value = 0.1 * torch.randn(shape, generator=gen)
        state[key] = value
    return state


def published_state(
    motion: bool = True, seed: int = 0, queries: int = QUERIES
) -> dict[str, dict[str, torch.Tensor]]:
    return {
        "sound": random_state(sound_layout(), seed),
        "frame": random_state(frame_layout(), seed + 1),
        "maskformer": random_state(maskformer_layout(motion, queries), seed + 2),
    }


# ----------------------------------------------------------------------------------------------
# The published forward pass, written from the published networks (eval mode, dropout 0)


def published_unet(sd: dict, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    def bn(name, h):
        w, b = sd[f"{name}.weight"], sd[f"{name}.bias"]
        mean, var = sd[f"{name}.running_mean"], sd[f"{name}.running_var"]
        return F.batch_norm(h, mean, var, w, b, training=False, eps=1e-5)

    def down(level, h):
        return F.conv2d(h, sd[f"downconv{level}.weight"], stride=2, padding=1)

    def up(level, h):
        h = F.interpolate(F.relu(h), scale_factor=2, mode="bilinear", align_corners=True)
        return F.conv2d(h, sd[f"upconv{level}.weight"], padding=1)

    skips = {1: down(1, bn("bn0", x))}
    for level in range(2, 7):
        skips[level] = bn(f"downnorm{level}", down(level, F.leaky_relu(skips[level - 1], 0.2)))
    h = bn("upnorm7", up(7, down(7, F.leaky_relu(skips[6], 0.2))))
    latent = None
    for level in (6, 5, 4, 3, 2):
        h = bn(f"upnorm{level}", up(level, torch.cat([skips[level], h], 1)))
        if level == 4:
            latent = h
    return up(1, torch.cat([skips[1], h], 1)), latent


def sine_2d(h: int, w: int, d: int) -> torch.Tensor:
    """Normalised DETR encoding of an (h, w) grid, (h·w, 1, d), y features first."""
    half = d // 2
    dim_t = 10000 ** (2 * (torch.arange(half) // 2) / half)

    def encode(p):
        a = p[:, None] / dim_t
        return torch.stack((a[:, 0::2].sin(), a[:, 1::2].cos()), dim=2).flatten(1)

    ey = encode(torch.arange(1, h + 1) / (h + 1e-6) * 2 * math.pi)[:, None].expand(h, w, half)
    ex = encode(torch.arange(1, w + 1) / (w + 1e-6) * 2 * math.pi)[None].expand(h, w, half)
    return torch.cat([ey, ex], -1).reshape(h * w, 1, d)


def sine_1d(length: int, d: int) -> torch.Tensor:
    pe = torch.zeros(length, d)
    position = torch.arange(length).float()[:, None]
    div = torch.exp(torch.arange(0, d, 2).float() * -(math.log(10000.0) / d))
    pe[:, 0::2], pe[:, 1::2] = torch.sin(position * div), torch.cos(position * div)
    return pe[:, None]


def published_masks(sd, latent, embedding, visual, classes, motion=None) -> torch.Tensor:
    """Mask logits (B, 1, F, T) of each row's class query; sequence-first as published."""

    def attend(name, q, k, v):
        return F.multi_head_attention_forward(
            q, k, v, D, HEADS, sd[f"{name}.in_proj_weight"], sd[f"{name}.in_proj_bias"],
            None, None, False, 0.0, sd[f"{name}.out_proj.weight"], sd[f"{name}.out_proj.bias"],
            training=False, need_weights=False,
        )[0]  # fmt: skip

    def norm(name, x):
        return F.layer_norm(x, (D,), sd[f"{name}.weight"], sd[f"{name}.bias"])

    def ffn(layer, x):
        hidden = F.relu(F.linear(x, sd[f"{layer}.linear1.weight"], sd[f"{layer}.linear1.bias"]))
        return F.linear(hidden, sd[f"{layer}.linear2.weight"], sd[f"{layer}.linear2.bias"])

    b, _, h, w = latent.shape
    pos = sine_2d(h, w, D)
    src = latent.flatten(2).permute(2, 0, 1)
    enc = "transformer.encoder.layers.0"
    src = norm(f"{enc}.norm1", src + attend(f"{enc}.self_attn", src + pos, src + pos, src))
    memory = norm(f"{enc}.norm2", src + ffn(enc, src))

    query_pos = sd["query_embed.weight"][:, None].expand(-1, b, -1)
    obj = F.conv1d(visual.T, sd["upobj.weight"], sd["upobj.bias"]).T
    tgt = torch.zeros(QUERIES, b, D)
    for i in range(b):
        tgt[classes[i], i] += obj[i]
    for i in range(4):
        layer = f"transformer.decoder.layers.{i}"
        if motion is not None and i == 0:
            tokens = F.conv1d(motion, sd["down.weight"], sd["down.bias"]).permute(2, 0, 1)
            keys = tokens + sine_1d(tokens.shape[0], D)
            out = attend(f"{layer}.cross_attn_motion", tgt + query_pos, keys, tokens)
            tgt = norm(f"{layer}.norm4", tgt + out)
        else:
            q = tgt + query_pos
            tgt = norm(f"{layer}.norm1", tgt + attend(f"{layer}.self_attn", q, q, tgt))
            out = attend(f"{layer}.multihead_attn", tgt + query_pos, memory + pos, memory)
            tgt = norm(f"{layer}.norm2", tgt + out)
        tgt = norm(f"{layer}.norm3", tgt + ffn(layer, tgt))
    hs = norm("transformer.decoder.norm", tgt).transpose(0, 1)
    for i in range(3):
        hs = F.linear(hs, sd[f"mask_embed.layers.{i}.weight"], sd[f"mask_embed.layers.{i}.bias"])
        hs = F.relu(hs) if i < 2 else hs
    masks = torch.einsum("bqc,bchw->bqhw", hs, embedding)
    return masks[torch.arange(b), classes][:, None]


# ----------------------------------------------------------------------------------------------
# Fixtures


def small_inputs(b: int = 2, motion: bool = True) -> dict:
    gen = torch.Generator().manual_seed(7)
    inputs = {
        "mix": torch.rand(b, 1, 128, 128, generator=gen),  # log1p magnitudes are ≥ 0
        "frames": torch.randn(b, 3, 3, 64, 64, generator=gen),
        "classes": torch.tensor([3, 10])[:b],
    }
    inputs["motion"] = torch.randn(b, 1024, 5, generator=gen) if motion else None
    return inputs


def forward(model: IQuery, x: dict) -> torch.Tensor:
    with torch.no_grad():
        return model(x["mix"], x["frames"], x["classes"], x["motion"])


@pytest.fixture(scope="module")
def published() -> dict[str, dict[str, torch.Tensor]]:
    return published_state(motion=True)


@pytest.fixture(scope="module")
def fresh_model() -> IQuery:
    return published_system(MUSIC, music("iquery")).model


def fit_error(published: dict, model: IQuery) -> str:
    with pytest.raises(ConfigError) as err:
        convert_state_dicts(published, model)
    return str(err.value)


# ----------------------------------------------------------------------------------------------
# Tests


def test_published_class_lists_match_the_workflow_config():
    config = yaml.safe_load((Path(__file__).parents[1] / "config.yaml").read_text())
    for dataset in ("music", "music21"):
        assert list(PUBLISHED_CLASSES[dataset]) == config["datasets"][dataset]["classes"]


@pytest.mark.parametrize("motion", [True, False], ids=["iquery", "nomotion"])
def test_convert_round_trip_and_published_forward(motion):
    published = published_state(motion=motion, seed=3)
    system = published_system(MUSIC, music("iquery" if motion else "nomotion"))
    model = system.model.eval()
    conversion = convert_state_dicts(published, model)
    model.load_state_dict(conversion.state, strict=True)

    # Exactly the unused modules are dropped; everything else maps one to one.
    dropped = {key for _, key in conversion.dropped}
    assert dropped == (unused_layout() if motion else set())
    assert len(conversion.mapped) == len(model.state_dict())
    assert all(part == "maskformer" for part in {m.part for m, _ in conversion.dropped})

    # Ours → published with the inverse table gives back every tensor, bit for bit.
    back = to_published(model.state_dict(), model.config)
    for part, state in published.items():
        assert set(back[part]) == set(state) - dropped
        for key, tensor in back[part].items():
            assert tensor.shape == state[key].shape and tensor.dtype == state[key].dtype, key
            assert torch.equal(tensor, state[key]), key

    # Our network computes the published function: U-Net (no output bias in either) and query
    # transformer, given the same visual vector.
    x = small_inputs(motion=motion)
    with torch.no_grad():
        embedding, latent = published_unet(published["sound"], x["mix"])
        ours_embedding, ours_latent = model.unet(x["mix"])
        visual = model.visual(x["frames"])
        expected = published_masks(
            published["maskformer"], latent, embedding, visual, x["classes"], x["motion"]
        )
    # The same arithmetic in another memory layout (ours is channels-last, for speed): equal
    # to rounding.
    for ours, theirs in ((ours_embedding, embedding), (ours_latent, latent)):
        assert (ours - theirs).abs().max() <= 1e-5 * theirs.abs().max()
    logits = forward(model, x)
    assert torch.isfinite(logits).all() and logits.abs().max() > 1e-3
    scale = expected.abs().max()
    assert (logits - expected).abs().max() <= 1e-5 * scale


def test_cli_writes_a_checkpoint_load_system_reads(tmp_path, published, fresh_model, capsys):
    files = {}
    for part, state in published.items():
        # Saved from a DataParallel-wrapped network, as a re-saved file might be.
        files[part] = tmp_path / f"{part}_best.pth"
        torch.save({f"module.{k}": v for k, v in state.items()}, files[part])
    out = tmp_path / "published.ckpt"
    convert_published.main(
        [
            *("--sound", str(files["sound"]), "--frame", str(files["frame"])),
            *("--maskformer", str(files["maskformer"]), "--dataset", "music"),
            *("--variant", "iquery", "--out", str(out)),
        ]
    )
    printed = capsys.readouterr().out
    assert "sound:downconv1 → unet.down.0  [1]" in printed
    assert "maskformer:down → predictor.motion_proj  [2]  (Conv1d weight → Linear)" in printed
    assert f"dropped {len(unused_layout())} tensors" in printed
    assert "maskformer:transformer.decoder.layers.0.self_attn.in_proj_weight" in printed

    system = load_system(out)
    hp = system.hparams
    assert hp.variant == "iquery" and hp.model_config["num_queries"] == QUERIES
    assert hp.model_config["freeze_visual"] is True
    assert hp.data_spec["classes"] == MUSIC and hp.data_spec["use_motion"] is True
    assert hp.data_spec["select_on"] == "test"
    assert (hp.data_spec["clip_samples"], hp.data_spec["num_frames"]) == (65535, 3)
    assert (hp.data_spec["audio_rate"], hp.data_spec["frame_rate"]) == (11025, 1)

    in_memory = IQuery(fresh_model.config).eval()
    in_memory.load_state_dict(convert_state_dicts(published, fresh_model).state, strict=True)
    x = small_inputs()
    assert torch.equal(forward(system.model, x), forward(in_memory, x))


def test_every_fault_is_named_at_once(published, fresh_model):
    faulty = {part: dict(state) for part, state in published.items()}
    faulty["sound"]["extra.weight"] = torch.zeros(3)
    faulty["maskformer"]["query_embed.weight"] = torch.zeros(22, D)
    del faulty["frame"]["fc.bias"]
    message = fit_error(faulty, fresh_model)
    assert "published tensors with no place in ours (1):\n    sound:extra.weight (3,)" in message
    assert (
        "maskformer:query_embed.weight (22, 256) vs ours predictor.query_embed.weight (12, 256)"
        in message
    )
    assert "our tensors left unfilled (1):\n    visual.head.bias (32,)" in message
    assert "holds 22 queries, not 12" in message


def test_a_u_net_output_bias_is_refused(published, fresh_model):
    with_bias = dict(published) | {"sound": published["sound"] | {"upconv1.bias": torch.zeros(32)}}
    message = fit_error(with_bias, fresh_model)
    assert "sound:upconv1.bias (32,) (would be unet.up.0.bias, which we lack)" in message
    assert "Sound of Pixels' U-Net" in message


def test_wrong_variant_is_explained(published):
    nomotion = published_system(MUSIC, music("nomotion")).model
    message = fit_error(published, nomotion)
    assert "maskformer:down.weight (256, 1024, 1)" in message
    assert "use variant iquery" in message
    assert "transformer.decoder.layers.1.cross_attn_motion" in message


def test_a_missing_file_and_bad_classes_are_refused(published, fresh_model, tmp_path):
    with pytest.raises(ConfigError, match="give the published state dicts"):
        convert_state_dicts({"sound": published["sound"]}, fresh_model)
    with pytest.raises(ConfigError, match="each class once"):
        published_system(["cello", "cello"], music())
    with pytest.raises(ConfigError, match="iquery or nomotion"):
        music("sop")
    with pytest.raises(SystemExit, match="published state dict .*none.pth does not exist"):
        convert_published.main(
            [
                *("--sound", str(tmp_path / "none.pth"), "--frame", "x", "--maskformer", "y"),
                *("--dataset", "music", "--out", str(tmp_path / "out.ckpt")),
            ]
        )


def test_an_ave_checkpoint_converts_with_ave_data_settings(tmp_path):
    """AVE's published model has no motion branch and 30 queries; the converted checkpoint
    evaluates with AVE's clip, hop, frames and rates, not MUSIC's."""
    classes = list(PUBLISHED_CLASSES["ave"])
    assert len(classes) == 28 and classes[:3] == ["Accordion", "Acoustic_guitar", "Aircraft"]
    files = {}
    for part, state in published_state(motion=False, seed=5, queries=30).items():
        files[part] = tmp_path / f"{part}_best.pth"
        torch.save(state, files[part])
    out = tmp_path / "ave.ckpt"
    convert_published.main(
        [
            *("--sound", str(files["sound"]), "--frame", str(files["frame"])),
            *("--maskformer", str(files["maskformer"]), "--dataset", "ave", "--out", str(out)),
        ]
    )
    hp = load_system(out).hparams
    assert hp.variant == "nomotion" and hp.model_config["num_queries"] == 30
    assert hp.data_spec["classes"] == classes and hp.data_spec["use_motion"] is False
    assert (hp.data_spec["clip_samples"], hp.data_spec["num_frames"]) == (47087, 6)
    assert (hp.data_spec["audio_rate"], hp.data_spec["frame_rate"]) == (22000, 25)
    assert hp.hop == 184 and hp.divide_mixture is False

    # Without the dataset the converter refuses (argparse), and MUSIC's settings would not fit.
    with pytest.raises(SystemExit):
        convert_published.main(
            [
                *("--sound", str(files["sound"]), "--frame", str(files["frame"])),
                *("--maskformer", str(files["maskformer"]), "--out", str(out)),
            ]
        )
    with pytest.raises(SystemExit, match="holds 30 queries, not 12"):
        convert_published.main(
            [
                *("--sound", str(files["sound"]), "--frame", str(files["frame"])),
                *("--maskformer", str(files["maskformer"]), "--dataset", "music"),
                *("--variant", "nomotion", "--out", str(tmp_path / "wrong.ckpt")),
            ]
        )
