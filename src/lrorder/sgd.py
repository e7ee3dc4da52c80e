"""Minibatch SGD for the training loop: ``torch.optim.SGD``'s update, without its start-up cost.

``torch.optim.SGD`` imports the compiler front end (``torch._dynamo``) the
first time an optimizer is built and on every ``step``, for its
``torch.compile`` support; with torch 2.14.1 that import takes 1–2 s, paid
once by every training job (``bench/job_overhead.py``), and the workflow
runs one job per run: 79 in the default study, thousands in a map. Runs here
are never compiled, so :class:`SGD` keeps only the update: it calls
``torch.optim.sgd.sgd``, the functional form that ``torch.optim.SGD.step``
itself calls, with the same arguments, so a step is the same arithmetic,
bit for bit (``tests/test_sgd.py``), on every device (the functional form
picks the for-each kernels on CUDA as ``torch.optim.SGD`` does).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch.optim.sgd import sgd


class SGD:
    """SGD with momentum (optionally Nesterov), no dampening, coupled weight decay (L2 added to the gradient).

    The update of ``torch.optim.SGD(params, lr, momentum, dampening=0,
    weight_decay, nesterov)``: for each parameter ``p`` with a gradient
    ``g``: ``g += weight_decay * p``; with momentum, ``b = g`` at the first
    step, else ``b = momentum * b + g``, and ``g = g + momentum * b``
    (Nesterov) or ``g = b``; then ``p -= lr * g``. The official code trains
    with ``torch.optim.SGD`` (``cwein3/large-lr-code``, ``train_util.py``).

    Args:
        params: the parameters to train (float tensors with ``requires_grad``).
        lr: learning rate (set per epoch through :attr:`lr`).
        momentum: momentum factor in [0, 1].
        nesterov: Nesterov momentum (needs ``momentum > 0``).
        weight_decay: L2 coefficient added to each gradient.

    Raises:
        ValueError: ``nesterov`` with ``momentum`` 0, or a negative ``lr``,
            ``momentum`` or ``weight_decay``.
    """

    def __init__(self, params: Iterable[torch.Tensor], lr: float, momentum: float = 0.0, nesterov: bool = False,
                 weight_decay: float = 0.0) -> None:
        if lr < 0 or momentum < 0 or weight_decay < 0:
            raise ValueError(f"SGD: expected lr, momentum and weight_decay >= 0, got {lr}, {momentum}, {weight_decay}")
        if nesterov and momentum <= 0:
            raise ValueError("SGD: Nesterov momentum requires momentum > 0")
        self.params = list(params)
        self.lr = float(lr)
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)
        self.weight_decay = float(weight_decay)
        self.momentum_buffers: list[torch.Tensor | None] = [None] * len(self.params)

    def zero_grad(self) -> None:
        """Drop every gradient (``set_to_none``, as ``torch.optim.Optimizer.zero_grad`` does by default)."""
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        """One update of every parameter that has a gradient (the others, and their momentum, are left as they are)."""
        stepped = [i for i, p in enumerate(self.params) if p.grad is not None]
        buffers = [self.momentum_buffers[i] for i in stepped] if self.momentum != 0 else []
        sgd([self.params[i] for i in stepped], [self.params[i].grad for i in stepped], buffers,
            weight_decay=self.weight_decay, momentum=self.momentum, lr=self.lr, dampening=0.0,
            nesterov=self.nesterov, maximize=False)
        for i, buffer in zip(stepped, buffers):  # the first step creates each buffer
            self.momentum_buffers[i] = buffer

    def state_dict(self) -> dict[str, Any]:
        """The state as ``torch.optim.SGD.state_dict`` lays it out: ``{"state": {index: {"momentum_buffer":
        tensor}}, "param_groups": [{"lr", "momentum", "dampening", "weight_decay", "nesterov", "params"}]}``
        (buffers as they are, not copied; indices of parameters that have one)."""
        state = {i: {"momentum_buffer": buffer} for i, buffer in enumerate(self.momentum_buffers) if buffer is not None}
        group = {"lr": self.lr, "momentum": self.momentum, "dampening": 0.0, "weight_decay": self.weight_decay,
                 "nesterov": self.nesterov, "params": list(range(len(self.params)))}
        return {"state": state, "param_groups": [group]}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict`'s momentum buffers (copied onto each parameter's device and dtype) and LR.

        Raises:
            ValueError: not one parameter group of as many parameters, a buffer
                index out of range, or a buffer of another shape than its parameter.
            KeyError, TypeError: not a state dict of this layout.
        """
        groups = state_dict["param_groups"]
        if len(groups) != 1 or len(groups[0]["params"]) != len(self.params):
            raise ValueError(f"SGD state: expected one group of {len(self.params)} parameters")
        buffers: list[torch.Tensor | None] = [None] * len(self.params)
        for index, entry in state_dict["state"].items():
            if not 0 <= int(index) < len(self.params):
                raise ValueError(f"SGD state: parameter index {index} out of range")
            param, buffer = self.params[int(index)], entry["momentum_buffer"]
            if buffer is None:
                continue
            if buffer.shape != param.shape:
                raise ValueError(f"SGD state: momentum buffer {index} has shape {tuple(buffer.shape)}, "
                                 f"its parameter {tuple(param.shape)}")
            buffers[int(index)] = buffer.detach().to(device=param.device, dtype=param.dtype).clone(
                memory_format=torch.preserve_format)
        self.momentum_buffers = buffers
        self.lr = float(groups[0]["lr"])
