"""Audio U-Net: output shapes at the paper's and tiny sizes, layer layout, argument checks."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from iquery.model.unet import AudioUNet, level_channels

torch.set_num_threads(1)


def test_paper_size_shapes():
    net = AudioUNet().eval()
    with torch.no_grad():
        embedding, latent = net(torch.randn(2, 1, 256, 256))
    assert embedding.shape == (2, 32, 256, 256)
    assert latent.shape == (2, 256, 32, 32)
    assert net.latent_channels == 256


def test_paper_layer_layout():
    net = AudioUNet()
    assert [c.out_channels for c in net.down] == [64, 128, 256, 512, 512, 512, 512]
    assert all(c.kernel_size == (4, 4) and c.stride == (2, 2) for c in net.down)
    # up[i] brings level i+1 to level i: concat inputs everywhere but the innermost level.
    assert [c.in_channels for c in net.up] == [128, 256, 512, 1024, 1024, 1024, 512]
    assert [c.out_channels for c in net.up] == [32, 64, 128, 256, 512, 512, 512]
    # No conv has a bias, the last one included (the published iQuery U-Net); Sound of
    # Pixels' own U-Net keeps one on its last conv.
    assert all(c.bias is None for c in [*net.down, *net.up])
    sop = AudioUNet(output_bias=True)
    assert [c.bias is not None for c in sop.up] == [True] + [False] * 6
    # BatchNorm after encoder convs 2..6 and after every decoder conv but the last.
    assert [isinstance(n, nn.BatchNorm2d) for n in net.down_norm] == [False] + [True] * 5 + [False]
    assert [isinstance(n, nn.BatchNorm2d) for n in net.up_norm] == [False] + [True] * 6


@pytest.mark.parametrize(
    ("depth", "ngf", "level", "size", "latent_shape"),
    [(7, 16, 3, 128, (64, 16, 16)), (5, 8, 2, 64, (16, 16, 16)), (4, 8, 1, 32, (8, 16, 16))],
)
def test_tiny_shapes(depth, ngf, level, size, latent_shape):
    net = AudioUNet(depth=depth, ngf=ngf, out_channels=8, latent_level=level)
    embedding, latent = net(torch.randn(2, 1, size, size))
    assert embedding.shape == (2, 8, size, size)
    assert latent.shape == (2, *latent_shape)
    assert net.latent_channels == level_channels(ngf, level) == latent_shape[0]


def test_argument_checks():
    with pytest.raises(ValueError, match="latent_level"):
        AudioUNet(depth=5, latent_level=5)
    with pytest.raises(ValueError, match="divisible"):
        AudioUNet(depth=7, ngf=4)(torch.randn(1, 1, 96, 128))
