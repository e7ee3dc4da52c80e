"""lrorder.sgd: torch.optim.SGD's update, bit for bit, without importing the compiler."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from lrorder.sgd import SGD

SETTINGS = [  # (momentum, nesterov, weight_decay): the synthetic study's, the image studies', plain momentum
    (0.0, False, 1e-4),
    (0.9, True, 5e-4),
    (0.9, False, 0.0),
]


def small_net(channels_last: bool) -> nn.Module:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 5))
    return net.to(memory_format=torch.channels_last) if channels_last else net


def batches(n: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    gen = torch.Generator().manual_seed(1)
    return [(torch.randn(8, 3, 8, 8, generator=gen), torch.randint(0, 5, (8,), generator=gen)) for _ in range(n)]


def train_steps(net: nn.Module, optimizer, lrs: list[float], data: list, frozen_from: int | None = None) -> None:
    """One step per LR, on ``data``'s batches in turn; from step ``frozen_from`` the last layer gets no gradient."""
    for step, (lr, (x, y)) in enumerate(zip(lrs, data)):
        if isinstance(optimizer, SGD):
            optimizer.lr = lr
        else:
            for group in optimizer.param_groups:
                group["lr"] = lr
        optimizer.zero_grad()
        nn.functional.cross_entropy(net(x), y).backward()
        if frozen_from is not None and step >= frozen_from:
            for p in net[-1].parameters():
                p.grad = None
        optimizer.step()


@pytest.mark.parametrize("momentum, nesterov, weight_decay", SETTINGS)
@pytest.mark.parametrize("channels_last", [False, True])
def test_steps_are_torch_optim_sgds_bit_for_bit(momentum: float, nesterov: bool, weight_decay: float,
                                                channels_last: bool) -> None:
    lrs = [0.5, 0.5, 0.02, 0.1, 0.1]
    ours, theirs = small_net(channels_last), small_net(channels_last)
    mine = SGD(ours.parameters(), lrs[0], momentum, nesterov, weight_decay)
    reference = torch.optim.SGD(theirs.parameters(), lr=lrs[0], momentum=momentum, nesterov=nesterov,
                                weight_decay=weight_decay)
    train_steps(ours, mine, lrs, batches(len(lrs)), frozen_from=3)
    train_steps(theirs, reference, lrs, batches(len(lrs)), frozen_from=3)
    for (name, a), b in zip(ours.state_dict().items(), theirs.state_dict().values()):
        assert torch.equal(a, b), name
        assert a.stride() == b.stride(), name
    expected = reference.state_dict()
    got = mine.state_dict()
    assert got["state"].keys() == expected["state"].keys()
    for index, entry in expected["state"].items():
        assert torch.equal(got["state"][index]["momentum_buffer"], entry["momentum_buffer"])
    group = {key: expected["param_groups"][0][key] for key in ("lr", "momentum", "dampening", "weight_decay",
                                                                 "nesterov", "params")}
    assert got["param_groups"] == [group]


def test_a_restored_state_continues_as_if_never_stopped() -> None:
    lrs, data = [0.5, 0.3, 0.1, 0.1], batches(4)
    straight = small_net(True)
    train_steps(straight, SGD(straight.parameters(), lrs[0], 0.9, True, 5e-4), lrs, data)
    first = small_net(True)
    first_opt = SGD(first.parameters(), lrs[0], 0.9, True, 5e-4)
    train_steps(first, first_opt, lrs[:2], data[:2])
    resumed = small_net(True)
    resumed.load_state_dict(first.state_dict())
    resumed_opt = SGD(resumed.parameters(), 1.0, 0.9, True, 5e-4)
    resumed_opt.load_state_dict(first_opt.state_dict())
    assert resumed_opt.lr == lrs[1]
    train_steps(resumed, resumed_opt, lrs[2:], data[2:])
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)


def test_a_state_of_another_model_is_refused() -> None:
    net = small_net(False)
    opt = SGD(net.parameters(), 0.1, 0.9)
    train_steps(net, opt, [0.1], batches(1))
    other = SGD(list(net.parameters())[:-1], 0.1, 0.9)
    with pytest.raises(ValueError, match="expected one group of 5 parameters"):
        other.load_state_dict(opt.state_dict())
    shapes = opt.state_dict()
    shapes["state"][0]["momentum_buffer"] = torch.zeros(2)
    with pytest.raises(ValueError, match=r"momentum buffer 0 has shape \(2,\), its parameter \(4, 3, 3, 3\)"):
        opt.load_state_dict(shapes)


@pytest.mark.parametrize("kwargs, message", [
    ({"lr": -0.1}, "expected lr, momentum and weight_decay >= 0"),
    ({"lr": 0.1, "nesterov": True}, "Nesterov momentum requires momentum > 0"),
])
def test_bad_settings_are_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SGD([torch.zeros(1, requires_grad=True)], **kwargs)


def test_a_training_run_never_imports_the_compiler(tmp_path: Path) -> None:
    # Regression: torch.optim.SGD imported torch._dynamo (1-2 s of every training job) on construction and at
    # every step; a run trains with lrorder.sgd.SGD, which does not.
    sys.path.insert(0, str(Path(__file__).parent))
    from fakes import make_synthetic_dataset  # noqa: E402
    from test_train import PARAMS, run_cfg  # noqa: E402

    data_dir = make_synthetic_dataset(tmp_path, PARAMS, seed=0)
    code = ("import json, sys, torch; from lrorder import study_data, train; "
            "data = study_data.load_synthetic(sys.argv[1], torch.device('cpu')); "
            "train.train(json.loads(sys.argv[2]), data, torch.device('cpu')); "
            "print('torch._dynamo' in sys.modules)")
    cfg = run_cfg(training={"momentum": 0.9, "nesterov": True})
    res = subprocess.run([sys.executable, "-c", code, str(data_dir), json.dumps(cfg)], capture_output=True,
                         text=True, timeout=300, check=True)
    assert res.stdout.split() == ["False"]
