"""IQuery and Sound-of-Pixels: shapes, shared-audio path, config, and a short fit on one batch."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from iquery.model.audio import SpectralFrontEnd, mask_loss
from iquery.model.iquery import IQuery, ModelConfig, SoundOfPixels, mask_logits

torch.set_num_threads(1)


def test_config_defaults_are_the_papers():
    cfg = ModelConfig()
    assert (cfg.num_queries, cfg.unet_depth, cfg.ngf, cfg.channels) == (12, 7, 64, 32)
    assert (cfg.hidden, cfg.heads, cfg.ffn, cfg.enc_layers, cfg.dec_layers) == (256, 8, 1024, 1, 4)
    assert (cfg.motion_dim, cfg.dropout, cfg.latent_level) == (1024, 0.0, 3)
    tiny = ModelConfig.tiny(num_queries=30, motion_dim=None)
    assert tiny.hidden < cfg.hidden and tiny.num_queries == 30 and tiny.motion_dim is None
    with pytest.raises(TypeError):
        ModelConfig.tiny(no_such_field=1)


def test_paper_size_forward():
    torch.manual_seed(0)
    model = IQuery(ModelConfig(freeze_visual=True)).eval()
    b = 2
    mix = torch.randn(b, 1, 256, 256)
    frames = [torch.randn(b, 3, 3, 224, 224) for _ in range(2)]
    classes = [torch.tensor([0, 5]), torch.tensor([9, 10])]
    motion = [torch.randn(b, 1024, 20), torch.randn(b, 1024, 17)]
    padding = [torch.zeros(b, 20, dtype=torch.bool), torch.zeros(b, 17, dtype=torch.bool)]
    padding[0][1, 12:] = True
    with torch.no_grad():
        logits = model.forward_sources(mix, frames, classes, motion, padding)
    assert logits.shape == (b, 2, 256, 256)
    assert torch.isfinite(logits).all()


def test_paper_size_sound_of_pixels():
    model = SoundOfPixels(ModelConfig(freeze_visual=True)).eval()
    with torch.no_grad():
        logits = model(torch.randn(2, 1, 256, 256), torch.randn(2, 3, 3, 224, 224))
    assert logits.shape == (2, 1, 256, 256)
    # Each network names the spectrogram it reads; only SoP's U-Net keeps an output bias.
    assert model.input_kind == "log_input" and IQuery.input_kind == "net_input"
    assert model.unet.up[0].bias is not None


def tiny_batch(b: int = 2, motion_dim: int = 64):
    torch.manual_seed(0)
    return dict(
        mix=torch.randn(b, 1, 128, 128),
        frames=[torch.randn(b, 3, 2, 64, 64) for _ in range(2)],
        classes=[torch.tensor([1, 2]), torch.tensor([3, 11])],
        motion=[torch.randn(b, motion_dim, 6), torch.randn(b, motion_dim, 9)],
    )


def test_sources_path_equals_single_source_forward():
    model = IQuery(ModelConfig.tiny()).eval()
    x = tiny_batch()
    with torch.no_grad():
        both = model.forward_sources(x["mix"], x["frames"], x["classes"], x["motion"])
        for n in range(2):
            one = model(x["mix"], x["frames"][n], x["classes"][n], x["motion"][n])
            assert one.shape == (2, 1, 128, 128)
            assert torch.allclose(both[:, n : n + 1], one, atol=1e-5)


def test_selected_mask_equals_slice_of_all_query_masks():
    model = IQuery(ModelConfig.tiny()).eval()
    x = tiny_batch()
    with torch.no_grad():
        embedding, latent = model.unet(x["mix"])
        visual = model.visual(x["frames"][0])
        out = model.predictor(latent, visual, x["classes"][0], x["motion"][0], all_queries=True)
        all_masks = mask_logits(embedding, out.all_queries)
        assert all_masks.shape == (2, 12, 128, 128)
        picked = all_masks[torch.arange(2), x["classes"][0]][:, None]
        direct = model(x["mix"], x["frames"][0], x["classes"][0], x["motion"][0])
    assert torch.allclose(direct, picked, atol=1e-5)


def test_no_motion_variant():
    """No motion weights, self-attention in every decoder layer (the motion variant's first
    layer has none), motion ignored if given; the class queries still choose what is taken."""
    model = IQuery(ModelConfig.tiny(num_queries=30, motion_dim=None)).eval()
    assert not [name for name, _ in model.named_parameters() if "motion" in name]
    assert all(layer.self_attn is not None for layer in model.predictor.decoder)
    motion_model = IQuery(ModelConfig.tiny(num_queries=30)).eval()
    assert motion_model.predictor.decoder[0].self_attn is None
    x = tiny_batch()
    frames = [torch.randn(2, 3, 6, 64, 64) for _ in range(2)]  # AVE: 6 frames
    classes = [torch.tensor([0, 29])] * 2
    with torch.no_grad():
        logits = model.forward_sources(x["mix"], frames, classes)
        given_motion = model.forward_sources(x["mix"], frames, classes, x["motion"])
        other_classes = model.forward_sources(x["mix"], frames, [torch.tensor([1, 28])] * 2)
    assert logits.shape == (2, 2, 128, 128)
    assert torch.equal(logits, given_motion)
    assert (logits - other_classes).abs().amax(dim=(2, 3)).min() > 1e-4


def test_sound_of_pixels_is_a_weighted_channel_sum():
    model = SoundOfPixels(ModelConfig.tiny()).eval()
    with torch.no_grad():
        model.bias.fill_(0.25)
        model.scale.uniform_(0.5, 1.5)
        x = tiny_batch()
        logits = model.forward_sources(x["mix"], x["frames"], x["classes"], x["motion"])
        embedding, _ = model.unet(x["mix"])
        vec = model.visual(x["frames"][1]) * model.scale
        manual = (vec[:, :, None, None] * embedding).sum(1) + 0.25
    assert logits.shape == (2, 2, 128, 128)
    assert torch.allclose(logits[:, 1], manual, atol=1e-5)


def test_tiny_model_fits_a_fixed_batch():
    torch.manual_seed(0)
    front = SpectralFrontEnd(n_warped=128)
    # Two tones per mixture over faint noise: ratio masks with structure a small net can learn.
    t = torch.arange(127 * 256) / 11025  # 128 frames
    freqs = torch.tensor([[[220.0], [1760.0]], [[440.0], [3000.0]]])
    sources = 0.5 * torch.sin(2 * torch.pi * freqs * t) + 0.01 * torch.randn(2, 2, len(t))
    batch = front(sources)
    assert batch.net_input.shape == (2, 1, 128, 128)
    model = IQuery(ModelConfig.tiny()).train()
    assert model.unet.training and not model.visual.backbone.training  # frozen BN stays in eval
    x = tiny_batch()
    trainable = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(trainable, lr=2e-3)
    losses = []
    for _ in range(8):
        logits = model.forward_sources(batch.net_input, x["frames"], x["classes"], x["motion"])
        loss = mask_loss("l1", logits, batch.gt_masks, batch.weight).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] * 0.7, losses


def test_models_move_with_their_config_untouched():
    cfg = ModelConfig.tiny()
    model = IQuery(cfg)
    assert model.config is cfg
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.hidden = 8  # type: ignore[misc]
