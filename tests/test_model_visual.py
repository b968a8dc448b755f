"""Visual net: dilated ResNet-18 shapes, freezing, loading local weights, key checks."""

from __future__ import annotations

import pytest
import torch
import torchvision

from iquery.model.visual import VisualNet

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory):
    torch.manual_seed(1)
    path = tmp_path_factory.mktemp("weights") / "resnet18.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)
    return path


def test_paper_size_shapes(weights_file):
    net = VisualNet(weights=weights_file)
    frames = torch.randn(2, 3, 3, 224, 224)
    with torch.no_grad():
        fmap = net.feature_map(frames)
        vec = net(frames)
    assert fmap.shape == (2, 3, 32, 14, 14)  # output stride 16 thanks to the dilated layer4
    assert vec.shape == (2, 32)
    assert torch.allclose(vec, torch.sigmoid(fmap.amax(dim=(1, 3, 4))))
    assert ((vec > 0) & (vec < 1)).all()


def test_layer4_is_dilated():
    layer4 = VisualNet().backbone[7]
    assert layer4[0].conv1.stride == (1, 1) and layer4[0].conv1.dilation == (1, 1)
    assert layer4[0].downsample[0].stride == (1, 1)
    for conv in (layer4[0].conv2, layer4[1].conv1, layer4[1].conv2):
        assert conv.dilation == (2, 2) and conv.padding == (2, 2)


def test_loads_saved_state_dict(weights_file):
    saved = torch.load(weights_file, weights_only=True)
    net = VisualNet(weights=weights_file)
    assert torch.equal(net.backbone[0].weight, saved["conv1.weight"])
    assert torch.equal(net.backbone[7][1].conv2.weight, saved["layer4.1.conv2.weight"])
    assert torch.equal(net.backbone[1].running_var, saved["bn1.running_var"])


def test_loads_safetensors_as_the_hub_keeps_them(tmp_path, weights_file):
    from safetensors.torch import save_file

    state = torch.load(weights_file, weights_only=True)
    path = tmp_path / "model.safetensors"
    # The hub's file has no num_batches_tracked buffers.
    save_file({k: v for k, v in state.items() if "num_batches_tracked" not in k}, str(path))
    net = VisualNet(weights=path)
    assert torch.equal(net.backbone[7][1].conv2.weight, state["layer4.1.conv2.weight"])


def test_old_files_without_num_batches_tracked_load(tmp_path, weights_file):
    state = torch.load(weights_file, weights_only=True)
    path = tmp_path / "old.pth"
    torch.save({k: v for k, v in state.items() if "num_batches_tracked" not in k}, path)
    net = VisualNet(weights=path)
    assert torch.equal(net.backbone[7][1].conv2.weight, state["layer4.1.conv2.weight"])
    assert torch.equal(net.backbone[1].running_mean, state["bn1.running_mean"])
    assert int(net.backbone[1].num_batches_tracked) == 0  # filled in, not left unset


def test_wrong_keys_name_the_file(tmp_path, weights_file):
    state = torch.load(weights_file, weights_only=True)
    state.pop("fc.weight")
    state["extra.weight"] = torch.zeros(1)
    path = tmp_path / "broken_resnet.pth"
    torch.save(state, path)
    with pytest.raises(ValueError, match="broken_resnet.pth") as err:
        VisualNet(weights=path)
    assert "fc.weight" in str(err.value) and "extra.weight" in str(err.value)
    not_dict = tmp_path / "tensor.pth"
    torch.save(torch.zeros(3), not_dict)
    with pytest.raises(ValueError, match="tensor.pth"):
        VisualNet(weights=not_dict)


def test_pretrained_backbone_frozen_and_in_eval(weights_file):
    net = VisualNet(weights=weights_file).train()
    assert net.frozen
    assert not any(p.requires_grad for p in net.backbone.parameters())
    assert all(p.requires_grad for p in net.head.parameters())
    assert not net.backbone.training and net.head.training
    running = net.backbone[1].running_mean.clone()
    net(torch.randn(2, 3, 2, 64, 64)).sum().backward()
    assert torch.equal(net.backbone[1].running_mean, running)  # BN statistics untouched
    assert all(p.grad is None for p in net.backbone.parameters())
    assert net.head.weight.grad is not None and net.head.weight.grad.abs().sum() > 0


def test_random_backbone_trains_from_scratch():
    net = VisualNet(out_channels=8).train()
    assert not net.frozen and net.backbone.training
    assert all(p.requires_grad for p in net.parameters())
    net(torch.randn(2, 3, 2, 64, 64)).sum().backward()
    assert net.backbone[0].weight.grad is not None
    # A random backbone can still be frozen on request (the tiny CPU config does).
    assert VisualNet(freeze_backbone=True).frozen
