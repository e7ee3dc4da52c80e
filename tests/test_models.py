"""Tests of lrorder.models: the two-layer network and pre-activation noise.

Source: ``docs/paper-notes.md``, "Two-layer network" and "Pre-activation noise".
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from lrorder.errors import ConfigError
from lrorder.models import PreActivationNoise, TwoLayerNet, build_model, set_preactivation_noise


def gen(seed: int = 0) -> torch.Generator:
    g = torch.Generator()
    g.manual_seed(seed)
    return g


def model_cfg(**over) -> dict:
    cfg = {"name": "two_layer", "width": 6, "activation": "relu", "negative_slope": 0.1, "split_at": None,
           "noise_shared_over_batch": False}
    cfg.update(over)
    return cfg


# --------------------------------------------------------------------------- TwoLayerNet


def test_output_shape_and_dtype() -> None:
    net = TwoLayerNet(10, width=8)
    out = net(torch.randn(5, 10, generator=gen()))
    assert out.shape == (5,)
    assert out.dtype == torch.float32


def test_second_layer_fixed_buffer() -> None:
    net = TwoLayerNet(3, width=4)
    expected = torch.tensor([0.5, -0.5, 0.5, -0.5])  # +-1/sqrt(4), alternating
    assert torch.equal(net.a, expected)
    assert "a" in dict(net.named_buffers())
    assert "a" not in dict(net.named_parameters())
    assert {name for name, _ in net.named_parameters()} == {"hidden.weight", "hidden.bias"}
    assert all(p is not net.a for p in net.parameters())
    wide = TwoLayerNet(3, width=400)
    assert torch.allclose(wide.a.abs(), torch.full((400,), 1 / math.sqrt(400)))
    assert wide.a.sum().item() == pytest.approx(0.0, abs=1e-6)  # balanced


def fixed_net(**kwargs) -> TwoLayerNet:
    """A 2-unit net with hand-set weights W = [[1, 2], [-1, 0.5]], b = [0.5, -1]."""
    net = TwoLayerNet(2, width=2, **kwargs)
    with torch.no_grad():
        net.hidden.weight.copy_(torch.tensor([[1.0, 2.0], [-1.0, 0.5]]))
        net.hidden.bias.copy_(torch.tensor([0.5, -1.0]))
    return net


def test_forward_matches_hand_computation() -> None:
    net = fixed_net()
    x = torch.tensor([[1.0, 1.0], [-2.0, 0.0]])
    # pre-activations: [[3.5, -1.5], [-1.5, 1.0]]; relu: [[3.5, 0], [0, 1]]; a = [1, -1]/sqrt(2)
    expected = torch.tensor([3.5, -1.0]) / math.sqrt(2)
    assert torch.allclose(net(x), expected)


def test_leaky_relu_option() -> None:
    net = fixed_net(activation="leaky_relu", negative_slope=0.1)
    x = torch.tensor([[1.0, 1.0], [-2.0, 0.0]])
    # leaky: [[3.5, -0.15], [-0.15, 1.0]] -> (3.5 + 0.15, -0.15 - 1.0) / sqrt(2)
    expected = torch.tensor([3.65, -1.15]) / math.sqrt(2)
    assert torch.allclose(net(x), expected)
    relu = TwoLayerNet(2, width=2, activation="relu")
    relu.load_state_dict(net.state_dict())
    assert not torch.allclose(relu(x), net(x))


def test_init_statistics() -> None:
    d, m = 400, 500
    net = TwoLayerNet(d, width=m)
    net.reset_parameters(gen(1))
    w = net.hidden.weight.detach().double()
    assert w.shape == (m, d)
    n = w.numel()  # 200000 draws: sd of the variance estimate ~ var * sqrt(2/n) = 0.3%
    assert w.mean().item() == pytest.approx(0.0, abs=5 / math.sqrt(d) / math.sqrt(n))
    assert w.var().item() == pytest.approx(1 / d, rel=0.02)
    assert torch.equal(net.hidden.bias, torch.zeros(m))


def test_init_reproducible_with_generator() -> None:
    a, b = TwoLayerNet(7, width=4), TwoLayerNet(7, width=4)
    a.reset_parameters(gen(5))
    b.reset_parameters(gen(5))
    assert torch.equal(a.hidden.weight, b.hidden.weight)
    c = TwoLayerNet(7, width=4)
    c.reset_parameters(gen(6))
    assert not torch.equal(a.hidden.weight, c.hidden.weight)


def test_split_mask_blocks() -> None:
    net = TwoLayerNet(10, width=6, split_at=7)
    expected = torch.zeros(6, 10)
    expected[:3, :7] = 1.0
    expected[3:, 7:] = 1.0
    assert torch.equal(net.mask, expected)
    assert "mask" in dict(net.named_buffers())
    net.reset_parameters(gen(0))
    w = net.hidden.weight.detach()
    assert (w[:3, 7:] == 0).all() and (w[3:, :7] == 0).all()
    assert (w[:3, :7] != 0).all() and (w[3:, 7:] != 0).all()


def test_no_split_mask_is_all_ones() -> None:
    assert torch.equal(TwoLayerNet(5, width=4).mask, torch.ones(4, 5))


def test_no_split_forward_and_gradients_equal_the_masked_product() -> None:
    # Without a split the forward skips the product with the all-ones mask; it must be exact.
    torch.manual_seed(0)
    net = TwoLayerNet(in_dim=12, width=8, activation="leaky_relu")
    x = torch.randn(5, 12)
    net(x).sum().backward()
    weight = net.hidden.weight.detach().clone().requires_grad_()
    bias = net.hidden.bias.detach().clone().requires_grad_()
    expected = F.leaky_relu(F.linear(x, weight * net.mask, bias), 0.1) @ net.a
    expected.sum().backward()
    assert torch.equal(net(x), expected)
    assert torch.equal(net.hidden.weight.grad, weight.grad)
    assert torch.equal(net.hidden.bias.grad, bias.grad)


def test_split_cross_blocks_stay_zero_after_step() -> None:
    net = TwoLayerNet(10, width=6, split_at=7)
    net.reset_parameters(gen(0))
    opt = torch.optim.SGD(net.parameters(), lr=0.5, momentum=0.9, weight_decay=1e-2)
    x = torch.randn(32, 10, generator=gen(1))
    y = torch.sign(torch.randn(32, generator=gen(2)))
    for _ in range(3):
        opt.zero_grad()
        F.softplus(-y * net(x)).mean().backward()
        grad = net.hidden.weight.grad
        assert (grad[:3, 7:] == 0).all() and (grad[3:, :7] == 0).all()
        opt.step()
    w = net.hidden.weight.detach()
    effective = w * net.mask
    assert (effective[:3, 7:] == 0).all() and (effective[3:, :7] == 0).all()
    assert (w[:3, 7:] == 0).all() and (w[3:, :7] == 0).all()


def test_split_forward_ignores_raw_cross_weights() -> None:
    # the forward pass uses weight * mask: even non-zero raw cross entries have no effect
    net = TwoLayerNet(10, width=6, split_at=7)
    net.reset_parameters(gen(0))
    x = torch.randn(4, 10, generator=gen(3))
    before = net(x)
    with torch.no_grad():
        net.hidden.weight[:3, 7:] = 5.0
        net.hidden.weight[3:, :7] = -5.0
    assert torch.equal(net(x), before)


def test_split_units_see_only_their_block() -> None:
    net = TwoLayerNet(10, width=6, split_at=7)
    net.reset_parameters(gen(0))
    x = torch.randn(4, 10, generator=gen(3))
    pre = F.linear(x, net.hidden.weight * net.mask, net.hidden.bias)
    x_q_changed = x.clone()
    x_q_changed[:, 7:] += 1.0
    pre2 = F.linear(x_q_changed, net.hidden.weight * net.mask, net.hidden.bias)
    assert torch.equal(pre[:, :3], pre2[:, :3])  # P units unaffected by Q features
    assert not torch.equal(pre[:, 3:], pre2[:, 3:])


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"width": 5}, "model.width"),
        ({"width": 0}, "model.width"),
        ({"activation": "tanh"}, "model.activation"),
        ({"split_at": 0}, "model.split_at"),
        ({"split_at": 10}, "model.split_at"),
    ],
)
def test_two_layer_bad_args(kwargs: dict, key: str) -> None:
    args = {"width": 4, **kwargs}
    with pytest.raises(ConfigError, match=key):
        TwoLayerNet(10, **args)


# --------------------------------------------------------------------------- noise


def test_noise_on_in_train_off_in_eval() -> None:
    layer = PreActivationNoise()
    layer.sigma = 1.0
    layer.generator = gen(0)
    x = torch.randn(4, 3, generator=gen(9))
    layer.train()
    noisy = layer(x)
    assert noisy.shape == x.shape
    assert not torch.equal(noisy, x)
    assert (noisy - x).abs().max().item() > 0.1
    layer.eval()
    assert torch.equal(layer(x), x)


def test_noise_sigma_zero_is_identity() -> None:
    layer = PreActivationNoise()
    layer.train()
    x = torch.randn(4, 3, generator=gen(9))
    assert layer.sigma == 0.0
    assert torch.equal(layer(x), x)


def test_noise_scale_is_sigma() -> None:
    layer = PreActivationNoise()
    layer.sigma, layer.generator = 2.5, gen(0)
    layer.train()
    out = layer(torch.zeros(200, 100))
    assert out.std().item() == pytest.approx(2.5, rel=0.02)
    assert out.mean().item() == pytest.approx(0.0, abs=0.05)


def test_noise_independent_per_element_by_default() -> None:
    layer = PreActivationNoise(shared_trailing_dims=None)
    layer.sigma, layer.generator = 1.0, gen(0)
    layer.train()
    out = layer(torch.zeros(3, 5))
    assert not torch.equal(out[0], out[1])
    assert len(torch.unique(out)) == 15


def test_noise_shared_over_batch() -> None:
    layer = PreActivationNoise(shared_trailing_dims=1)
    layer.sigma, layer.generator = 1.0, gen(0)
    layer.train()
    out = layer(torch.zeros(4, 5))
    assert out.shape == (4, 5)
    for row in out[1:]:
        assert torch.equal(row, out[0])
    assert len(torch.unique(out[0])) == 5


def test_noise_shared_trailing_two_dims() -> None:
    # official forward_noise: one (H, W) map broadcast over batch and channels
    layer = PreActivationNoise(shared_trailing_dims=2)
    layer.sigma, layer.generator = 1.0, gen(0)
    layer.train()
    out = layer(torch.zeros(2, 3, 4, 4))
    assert out.shape == (2, 3, 4, 4)
    ref = out[0, 0]
    assert all(torch.equal(out[b, c], ref) for b in range(2) for c in range(3))
    assert len(torch.unique(ref)) == 16
    expected = 1.0 * torch.randn((4, 4), generator=gen(0))
    assert torch.equal(ref, expected)


def test_noise_generator_reproducible() -> None:
    x = torch.randn(4, 6, generator=gen(9))
    layer = PreActivationNoise()
    layer.sigma = 0.7
    layer.train()
    layer.generator = gen(42)
    first = layer(x)
    layer.generator = gen(42)
    second = layer(x)
    assert torch.equal(first, second)
    layer.generator = gen(43)
    assert not torch.equal(layer(x), first)
    assert torch.allclose(first, x + 0.7 * torch.randn((4, 6), generator=gen(42)))


def test_set_preactivation_noise_and_net_eval() -> None:
    net = TwoLayerNet(5, width=4)
    net.reset_parameters(gen(0))
    x = torch.randn(3, 5, generator=gen(1))
    clean = net(x)
    set_preactivation_noise(net, 3.0, gen(7))
    assert net.noise.sigma == 3.0
    assert isinstance(net.noise.sigma, float)
    net.train()
    assert not torch.equal(net(x), clean)
    net.eval()
    assert torch.equal(net(x), clean)
    set_preactivation_noise(net, 0, None)
    net.train()
    assert torch.equal(net(x), clean)
    assert net.noise.generator is None


def test_net_noise_sharing_option() -> None:
    assert TwoLayerNet(5, width=4, noise_shared_over_batch=True).noise.shared_trailing_dims == 1
    assert TwoLayerNet(5, width=4, noise_shared_over_batch=False).noise.shared_trailing_dims is None


def test_net_shared_noise_same_shift_for_every_example() -> None:
    # with shared noise, identical inputs get identical (noisy) outputs within a batch
    net = TwoLayerNet(5, width=4, noise_shared_over_batch=True)
    net.reset_parameters(gen(0))
    set_preactivation_noise(net, 2.0, gen(3))
    net.train()
    x = torch.randn(1, 5, generator=gen(1)).repeat(6, 1)
    out = net(x)
    # (equal up to BLAS rounding: the matmul may treat rows differently)
    assert torch.allclose(out, out[0].expand(6), rtol=0, atol=1e-6)
    unshared = TwoLayerNet(5, width=4, noise_shared_over_batch=False)
    unshared.load_state_dict(net.state_dict())
    set_preactivation_noise(unshared, 2.0, gen(3))
    unshared.train()
    spread = unshared(x)
    assert (spread.max() - spread.min()).item() > 0.01


# --------------------------------------------------------------------------- build_model


def test_build_model_two_layer() -> None:
    net = build_model(model_cfg(width=8, activation="leaky_relu", negative_slope=0.2, split_at=3,
                                noise_shared_over_batch=True), (5,))
    assert isinstance(net, TwoLayerNet)
    assert net.hidden.weight.shape == (8, 5)
    assert net.activation == "leaky_relu"
    assert net.negative_slope == 0.2
    assert net.mask[:4, 3:].sum().item() == 0
    assert net.noise.shared_trailing_dims == 1


def test_build_model_unknown_name() -> None:
    with pytest.raises(ConfigError) as exc:
        build_model(model_cfg(name="wrn"), (5,))
    assert str(exc.value) == "model.name: unknown model 'wrn' (expected one of: two_layer, wide_resnet, small_cnn)"
