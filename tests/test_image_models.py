"""Tests of the image models: WideResNet (official models/wideresnet.py) and SmallCNN.

Source: ``docs/paper-notes.md``, "Image experiments".
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lrorder.errors import ConfigError
from lrorder.models import (
    PreActivationNoise,
    SmallCNN,
    WideResNet,
    build_model,
    set_preactivation_noise,
)
from lrorder.models.small_cnn import max_pool2x2
from lrorder.models.wideresnet import WideBasicBlock

WRN_16_10_PARAMS = 17_116_634  # 10 classes, 3 input channels
WRN_PAPER_PARAMS = 17.2e6  # Zagoruyko & Komodakis (2016), table of WRN-16-10; docs/paper-notes.md: about 17M


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def images(shape: tuple[int, ...], n: int = 4, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, *shape, generator=gen(seed))


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def noise_layers(model: nn.Module) -> list[PreActivationNoise]:
    return [m for m in model.modules() if isinstance(m, PreActivationNoise)]


@pytest.fixture(scope="module")
def wrn_16_10() -> WideResNet:
    net = WideResNet(depth=16, widen_factor=10)
    net.reset_parameters(gen(0))
    return net


def official_forward(model: WideResNet, x: torch.Tensor, sigma: float = 0.0, g: torch.Generator | None = None,
                     training: bool = True) -> torch.Tensor:
    """The official ``forward`` / ``forward_noise`` (cwein3/large-lr-code, models/wideresnet.py), functionally,
    with the model's weights; noise maps ``randn(H, W)`` drawn from ``g`` in the official order."""

    def bn(m: nn.BatchNorm2d, t: torch.Tensor) -> torch.Tensor:
        stats = (None, None) if training else (m.running_mean, m.running_var)
        return F.batch_norm(t, *stats, m.weight, m.bias, training, 0.0, m.eps)

    def noisy(t: torch.Tensor) -> torch.Tensor:
        if sigma == 0.0:
            return t
        return t + sigma * torch.randn(t.size(2), t.size(3), generator=g).view(1, 1, t.size(2), t.size(3))

    out = F.conv2d(x, model.conv1.weight, padding=1)
    for group in (model.block1, model.block2, model.block3):
        for blk in group:
            equal_in_out = blk.bn1.num_features == blk.conv1.out_channels
            stride = blk.conv1.stride
            if not equal_in_out:
                out = F.relu(noisy(bn(blk.bn1, out)))
                h = out
            else:
                h = F.relu(noisy(bn(blk.bn1, out)))
            h = F.conv2d(h, blk.conv1.weight, stride=stride, padding=1)
            h = F.relu(noisy(bn(blk.bn2, h)))
            h = F.conv2d(h, blk.conv2.weight, padding=1)
            out = (out if equal_in_out else F.conv2d(out, blk.shortcut.weight, stride=stride)) + h
    out = F.relu(noisy(bn(model.bn1, out)))
    out = F.avg_pool2d(out, 8).view(out.size(0), -1)
    return F.linear(out, model.fc.weight, model.fc.bias)


# --------------------------------------------------------------------------- WideResNet: size and structure


def wrn_param_formula(depth: int, k: int, in_channels: int = 3, num_classes: int = 10) -> int:
    """Count by hand: stem, per block BN(in) + conv3x3(in,out) + BN(out) + conv3x3(out,out) [+ 1x1], head."""
    n = (depth - 4) // 6
    widths = [16, 16 * k, 32 * k, 64 * k]
    total = 9 * in_channels * 16
    for g in range(3):
        for i in range(n):
            cin, cout = (widths[g] if i == 0 else widths[g + 1]), widths[g + 1]
            total += 2 * cin + 9 * cin * cout + 2 * cout + 9 * cout * cout + (cin * cout if cin != cout else 0)
    return total + 2 * widths[3] + widths[3] * num_classes + num_classes


def test_wrn_16_10_parameter_count(wrn_16_10: WideResNet) -> None:
    assert n_params(wrn_16_10) == WRN_16_10_PARAMS
    assert wrn_param_formula(16, 10) == WRN_16_10_PARAMS
    assert abs(WRN_16_10_PARAMS - WRN_PAPER_PARAMS) / WRN_PAPER_PARAMS < 0.01


@pytest.mark.parametrize("depth,k,in_channels,classes", [(16, 1, 3, 10), (16, 4, 1, 10), (22, 2, 3, 100)])
def test_wrn_parameter_count_formula(depth: int, k: int, in_channels: int, classes: int) -> None:
    net = WideResNet(depth=depth, widen_factor=k, num_classes=classes, in_channels=in_channels)
    assert n_params(net) == wrn_param_formula(depth, k, in_channels, classes)


@pytest.mark.parametrize("shape", [(3, 32, 32), (1, 28, 28)])
def test_wrn_16_4_output_shape(shape: tuple[int, int, int]) -> None:
    net = WideResNet(depth=16, widen_factor=4, in_channels=shape[0])
    out = net(images(shape, n=2))
    assert out.shape == (2, 10)
    assert out.dtype == torch.float32
    net.eval()
    assert net(images(shape, n=3)).shape == (3, 10)


def test_wrn_groups_widths_strides_and_shortcuts() -> None:
    net = WideResNet(depth=16, widen_factor=4)
    blocks = [*net.block1, *net.block2, *net.block3]
    assert net.conv1.in_channels == 3 and net.conv1.out_channels == 16
    assert len(net.block1) == len(net.block2) == len(net.block3) == 2
    assert [(b.conv1.in_channels, b.conv1.out_channels, b.conv1.stride[0]) for b in blocks] == [
        (16, 64, 1), (64, 64, 1), (64, 128, 2), (128, 128, 1), (128, 256, 2), (256, 256, 1)]
    assert [b.shortcut is not None for b in blocks] == [True, False, True, False, True, False]
    for b in blocks:
        if b.shortcut is not None:
            assert b.shortcut.kernel_size == (1, 1)
            assert b.shortcut.stride == b.conv1.stride
            assert b.shortcut.bias is None
        assert b.conv1.bias is None and b.conv2.bias is None
    assert net.fc.in_features == 256
    assert not any(isinstance(m, nn.Dropout) for m in net.modules())


def test_wrn_k1_first_block_has_identity_shortcut() -> None:
    # widths 16/16/32/64: the first group keeps the stem's width, so no 1x1 conv there
    net = WideResNet(depth=16, widen_factor=1)
    blocks = [*net.block1, *net.block2, *net.block3]
    assert [b.shortcut is not None for b in blocks] == [False, False, True, False, True, False]


def test_identity_shortcut_with_stride_rejected() -> None:
    with pytest.raises(ValueError):
        WideBasicBlock(8, 8, stride=2)


# --------------------------------------------------------------------------- WideResNet: forward = official code


def test_wrn_matches_official_forward_train_and_eval() -> None:
    net = WideResNet(depth=16, widen_factor=2)
    net.reset_parameters(gen(3))
    x = images((3, 32, 32), n=4, seed=1)
    net.train()
    torch.testing.assert_close(net(x), official_forward(net, x, training=True), rtol=1e-5, atol=1e-5)
    # running statistics are now non-trivial: eval mode uses them
    net.eval()
    torch.testing.assert_close(net(x), official_forward(net, x, training=False), rtol=1e-5, atol=1e-5)


def test_wrn_matches_official_forward_noise() -> None:
    net = WideResNet(depth=16, widen_factor=2)
    net.reset_parameters(gen(3))
    x = images((3, 32, 32), n=4, seed=1)
    net.train()
    set_preactivation_noise(net, 0.7, gen(11))
    ours = net(x)
    theirs = official_forward(net, x, sigma=0.7, g=gen(11))
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(ours, official_forward(net, x, training=True), atol=1e-3)


# --------------------------------------------------------------------------- WideResNet: pre-activation noise


def test_wrn_noise_layer_count() -> None:
    assert len(noise_layers(WideResNet(depth=16, widen_factor=1))) == 13  # 2 per block * 6 + 1 final
    assert len(noise_layers(WideResNet(depth=22, widen_factor=1))) == 19  # 2 * 9 + 1
    assert all(m.shared_trailing_dims == 2 for m in noise_layers(WideResNet(depth=16, widen_factor=1)))


def capture_noise(model: nn.Module, x: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(input, output - input) of every noise layer, in call order."""
    seen: list[tuple[torch.Tensor, torch.Tensor]] = []
    hooks = [m.register_forward_hook(lambda _m, inp, out: seen.append((inp[0], out - inp[0])))
             for m in noise_layers(model)]
    try:
        model(x)
    finally:
        for h in hooks:
            h.remove()
    return seen


@pytest.mark.parametrize("shape,sizes", [
    ((3, 32, 32), [32, 32, 32, 32, 32, 16, 16, 16, 16, 8, 8, 8, 8]),
    ((1, 28, 28), [28, 28, 28, 28, 28, 14, 14, 14, 14, 7, 7, 7, 7]),
])
def test_wrn_noise_is_one_hw_map_per_layer(shape: tuple[int, int, int], sizes: list[int]) -> None:
    net = WideResNet(depth=16, widen_factor=1, in_channels=shape[0])
    net.train()
    set_preactivation_noise(net, 0.5, gen(2))
    seen = capture_noise(net, images(shape, n=3))
    assert len(seen) == 13
    assert [inp.shape[-1] for inp, _ in seen] == sizes
    maps = []
    for inp, added in seen:
        hw = added[0, 0]
        assert hw.shape == inp.shape[-2:]
        # same map for every example and channel (up to the rounding of (x + n) - x)
        torch.testing.assert_close(added, hw.expand_as(added), rtol=0, atol=1e-5)
        assert hw.std() > 0.2  # a genuine map, not a constant
        maps.append(hw)
    assert not torch.equal(maps[0], maps[1])  # independent maps per layer


def test_wrn_noise_before_relu_after_bn() -> None:
    # each noise layer's input is the output of the BN just before it (in the block or the head)
    net = WideResNet(depth=16, widen_factor=1)
    net.train()
    bn_out: dict[int, torch.Tensor] = {}
    pairs = [(b.bn1, b.noise1) for g in (net.block1, net.block2, net.block3) for b in g]
    pairs += [(b.bn2, b.noise2) for g in (net.block1, net.block2, net.block3) for b in g]
    pairs += [(net.bn1, net.noise)]
    hooks = [bn.register_forward_hook(lambda m, i, o: bn_out.__setitem__(id(m), o)) for bn, _ in pairs]
    noise_in: dict[int, torch.Tensor] = {}
    hooks += [nz.register_forward_hook(lambda m, i, o: noise_in.__setitem__(id(m), i[0])) for _, nz in pairs]
    net(images((3, 32, 32), n=2))
    for h in hooks:
        h.remove()
    assert len(pairs) == 13
    for bn, nz in pairs:
        assert noise_in[id(nz)] is bn_out[id(bn)]


def test_wrn_identical_images_get_identical_noise() -> None:
    net = WideResNet(depth=16, widen_factor=1)
    net.train()
    set_preactivation_noise(net, 1.0, gen(4))
    x = images((3, 32, 32), n=1).expand(5, 3, 32, 32).contiguous()
    out = net(x)
    assert torch.equal(out, out[:1].expand_as(out))


def test_wrn_noise_train_only() -> None:
    net = WideResNet(depth=16, widen_factor=1)
    net.reset_parameters(gen(0))
    x = images((3, 32, 32), n=4)
    net.train()
    set_preactivation_noise(net, 0.0, gen(1))
    clean = net(x)
    assert torch.equal(clean, net(x))  # deterministic without noise
    set_preactivation_noise(net, 0.5, gen(1))
    assert (net(x) - clean).abs().max() > 1e-3
    net.eval()
    set_preactivation_noise(net, 0.0, gen(1))
    eval_clean = net(x)
    set_preactivation_noise(net, 5.0, gen(1))
    assert torch.equal(net(x), eval_clean)


# --------------------------------------------------------------------------- WideResNet: init


def test_wrn_conv_init_std(wrn_16_10: WideResNet) -> None:
    w = wrn_16_10.block3[1].conv2.weight  # 640 x 640 x 3 x 3
    assert w.numel() == 640 * 640 * 9
    assert w.std().item() == pytest.approx(math.sqrt(2.0 / (9 * 640)), rel=0.01)
    assert abs(w.mean().item()) < 1e-4
    s = wrn_16_10.block3[0].shortcut.weight  # 640 x 320 x 1 x 1
    assert s.std().item() == pytest.approx(math.sqrt(2.0 / 640), rel=0.01)
    stem = wrn_16_10.block1[0].conv1.weight  # 160 x 16 x 3 x 3: fan_out = 9 * 160, not the fan_in
    assert stem.std().item() == pytest.approx(math.sqrt(2.0 / (9 * 160)), rel=0.03)


def test_wrn_bn_and_linear_init(wrn_16_10: WideResNet) -> None:
    bns = [m for m in wrn_16_10.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(bns) == 13
    for m in bns:
        assert torch.equal(m.weight, torch.ones_like(m.weight))
        assert torch.equal(m.bias, torch.zeros_like(m.bias))
    fc = wrn_16_10.fc
    assert torch.equal(fc.bias, torch.zeros(10))
    bound = 1.0 / math.sqrt(640)
    assert fc.weight.abs().max().item() <= bound
    assert fc.weight.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.05)


def test_wrn_reset_parameters_deterministic_and_resets_state() -> None:
    a, b = WideResNet(depth=16, widen_factor=1), WideResNet(depth=16, widen_factor=1)
    a.train()
    a(images((3, 32, 32), n=4))  # moves running statistics
    with torch.no_grad():
        a.bn1.weight.add_(1.0)
    a.reset_parameters(gen(7))
    b.reset_parameters(gen(7))
    sa, sb = a.state_dict(), b.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa if not k.endswith("num_batches_tracked"))
    assert torch.equal(a.bn1.running_mean, torch.zeros(64)) and torch.equal(a.bn1.running_var, torch.ones(64))
    b.reset_parameters(gen(8))
    assert not torch.equal(a.conv1.weight, b.conv1.weight)
    assert not torch.equal(a.fc.weight, b.fc.weight)


# --------------------------------------------------------------------------- SmallCNN


@pytest.mark.parametrize("shape,params", [((1, 28, 28), 94_186), ((3, 32, 32), 94_762)])
def test_small_cnn_shapes_and_size(shape: tuple[int, int, int], params: int) -> None:
    net = SmallCNN(in_channels=shape[0])
    assert n_params(net) == params < 500_000
    out = net(images(shape, n=5))
    assert out.shape == (5, 10) and out.dtype == torch.float32


def test_small_cnn_structure_and_noise_placement() -> None:
    net = SmallCNN(widths=(8, 16, 32), in_channels=1)
    assert [(s.conv.in_channels, s.conv.out_channels) for s in net.stages] == [(1, 8), (8, 16), (16, 32)]
    assert len(noise_layers(net)) == 3
    net.train()
    set_preactivation_noise(net, 0.5, gen(2))
    seen = capture_noise(net, images((1, 28, 28), n=3))
    assert [tuple(inp.shape) for inp, _ in seen] == [(3, 8, 28, 28), (3, 16, 14, 14), (3, 32, 7, 7)]
    for _, added in seen:
        torch.testing.assert_close(added, added[0, 0].expand_as(added), rtol=0, atol=1e-5)
        assert added[0, 0].std() > 0.2


def test_small_cnn_noise_train_only_and_init() -> None:
    net = SmallCNN(in_channels=3)
    net.reset_parameters(gen(0))
    x = images((3, 32, 32), n=4)
    net.train()
    clean = net(x)
    set_preactivation_noise(net, 0.5, gen(1))
    assert (net(x) - clean).abs().max() > 1e-3
    net.eval()
    set_preactivation_noise(net, 0.0, None)
    eval_clean = net(x)
    set_preactivation_noise(net, 3.0, gen(1))
    assert torch.equal(net(x), eval_clean)
    w = net.stages[2].conv.weight  # 128 x 64 x 3 x 3
    assert w.std().item() == pytest.approx(math.sqrt(2.0 / (9 * 128)), rel=0.02)
    assert torch.equal(net.fc.bias, torch.zeros(10))
    assert all(torch.equal(s.bn.weight, torch.ones_like(s.bn.weight)) for s in net.stages)
    other = SmallCNN(in_channels=3)
    other.reset_parameters(gen(0))
    assert all(torch.equal(p, q) for p, q in zip(net.parameters(), other.parameters()))


# --------------------------------------------------------------------------- build_model


def test_build_model_wide_resnet() -> None:
    net = build_model({"name": "wide_resnet", "depth": 16, "widen_factor": 2}, (1, 28, 28), num_classes=7)
    assert isinstance(net, WideResNet)
    assert (net.depth, net.widen_factor) == (16, 2)
    assert net.conv1.in_channels == 1
    assert net(images((1, 28, 28), n=2)).shape == (2, 7)


def test_build_model_wide_resnet_paper_settings() -> None:
    net = build_model({"name": "wide_resnet", "depth": 16, "widen_factor": 10, "width": 400}, (3, 32, 32))  # other models' keys ignored
    assert (net.depth, net.widen_factor, net.fc.out_features) == (16, 10, 10)
    assert n_params(net) == WRN_16_10_PARAMS


def test_build_model_small_cnn() -> None:
    net = build_model({"name": "small_cnn", "widths": [32, 64, 128]}, (3, 32, 32))
    assert isinstance(net, SmallCNN)
    assert net.widths == (32, 64, 128)
    assert net.stages[0].conv.in_channels == 3


@pytest.mark.parametrize("cfg,shape,message", [
    ({"name": "resnet"}, (3, 32, 32),
     "model.name: unknown model 'resnet' (expected one of: two_layer, wide_resnet, small_cnn)"),
    ({"name": "wide_resnet", "depth": 15, "widen_factor": 10}, (3, 32, 32),
     "model.depth: expected 6n + 4 with n >= 1 (e.g. 10, 16, 22, 28), got 15"),
    ({"name": "wide_resnet", "depth": 4, "widen_factor": 10}, (3, 32, 32),
     "model.depth: expected 6n + 4 with n >= 1 (e.g. 10, 16, 22, 28), got 4"),
    ({"name": "wide_resnet", "depth": 16, "widen_factor": 0}, (3, 32, 32),
     "model.widen_factor: expected an integer >= 1, got 0"),
    ({"name": "small_cnn", "widths": []}, (1, 28, 28),
     "model.widths: expected a non-empty list of integers >= 1, got []"),
    ({"name": "small_cnn", "widths": [8, 0]}, (1, 28, 28),
     "model.widths: expected a non-empty list of integers >= 1, got [8, 0]"),
    ({"name": "small_cnn", "widths": [4] * 6}, (1, 28, 28),
     "model.widths: 6 stages need images of at least 32x32, got 28x28"),
    ({"name": "wide_resnet", "depth": 16, "widen_factor": 10}, (24,),
     "model.name: wide_resnet needs image inputs (C, H, W), got example shape (24,)"),
    ({"name": "two_layer", "width": 4, "activation": "relu", "negative_slope": 0.1, "split_at": None,
      "noise_shared_over_batch": False}, (1, 28, 28),
     "model.name: two_layer needs flat inputs (D,), got example shape (1, 28, 28)"),
])
def test_build_model_config_errors(cfg: dict, shape: tuple[int, ...], message: str) -> None:
    with pytest.raises(ConfigError) as exc:
        build_model(cfg, shape)
    assert str(exc.value) == message


@pytest.mark.parametrize("shape", [(16, 8, 14, 14), (4, 3, 7, 9)])
def test_max_pool2x2_bitwise_equals_max_pool2d_with_ties(shape: tuple[int, ...]) -> None:
    # Integer-valued ReLU outputs: many ties in every window, the case where the chosen position matters.
    gen = torch.Generator().manual_seed(0)
    x = torch.relu(torch.randint(-3, 4, shape, generator=gen).float())
    ours, ref = x.clone().requires_grad_(), x.clone().requires_grad_()
    out, expected = max_pool2x2(ours), F.max_pool2d(ref, 2)
    grad = torch.randn(expected.shape, generator=gen)
    out.backward(grad)
    expected.backward(grad)
    assert out.stride() == expected.stride()
    assert torch.equal(out, expected)
    assert torch.equal(ours.grad, ref.grad)


def test_max_pool2x2_channels_last_input_goes_to_max_pool2d() -> None:
    x = torch.randn(2, 4, 6, 6).contiguous(memory_format=torch.channels_last)
    assert torch.equal(max_pool2x2(x), F.max_pool2d(x, 2))
