"""One training run: one study x schedule x seed (``python -m lrorder.train``).

SGD (optionally with momentum / Nesterov) with coupled weight decay, a
piecewise-constant learning-rate schedule set at the start of every epoch,
optional Gaussian pre-activation noise and gradient noise, each with its own
schedule. The data live in memory as tensors and batches are sliced from a
per-epoch permutation (the style of ``KellerJordan/airbench``).

Per epoch the run records, for ``eval_set = "train"``, the running mean of
the minibatch loss and accuracy over the epoch (train mode, noise on, as the
official code's log) and, at the epochs the run scores, loss and accuracy
in eval mode (noise off) on each evaluation set it reports (the run's
scoring plan, ``run_cfg["evaluation"]``: :func:`lrorder.plan.evaluation`).
A checkpoint is written after every epoch and removed when the run completes; a restarted run resumes from it, and sets aside an
unreadable or foreign one and starts over (:func:`train`). Every random draw
depends only on ``(seed, stream, epoch)`` (:mod:`lrorder.seeding`), so the
same seed gives identical metrics on the CPU, resumed or not, given the same
torch build, CPU kernel level (:mod:`lrorder.cpu_kernels`), memory layout and
number of threads: the thread count changes how sums are split, so a run
keeps the one it started with (:func:`resume_threads`) and ``run.json``
records it for every segment of the run.

A run with a non-finite loss (NaN or infinite) in an epoch, on the
training minibatches or on any evaluation set, has diverged: it stops after
that epoch with one log line (``diverged: <study>/<schedule>/seed<k> at
epoch <e> (training loss nan); stopping``, or e.g. ``(test loss inf)`` when
only an evaluation loss is: the last step of the epoch blew the weights up),
still writes its outputs (metrics up to and including that epoch, where
every evaluation set of its scoring plan is scored as at a last epoch; the
last weights) and exits 0; ``run.json``'s ``diverged`` is ``{"epoch": e,
"training_loss": "nan", "nonfinite_losses": {"train": "nan", ...}}`` (losses
as text: ``nan``, ``inf`` or ``-inf``), ``null`` for a run that trained all
its epochs. Aggregation, claims and
figures count such runs and leave them out of every mean.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import math
import os
import socket
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, NamedTuple, Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.swa_utils import update_bn

from lrorder import (cli, cpu_kernels, devices, fileio, manifest, metric_rows, provenance, schedules, schema,
                     seeding, study_data, study_kinds)
from lrorder.errors import ConfigError, DataError
from lrorder.params import check_finite
from lrorder.columns import METRIC_COLUMNS
from lrorder.models import build_model, set_preactivation_noise
from lrorder.sgd import SGD
from lrorder.study_data import TrainingData



def per_example_loss_and_correct(output: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Loss (float32 ``(B,)``) and correctness (bool ``(B,)``) of each example.

    A 1-d ``output`` is a binary score against ``target`` in ``{-1, +1}``:
    logistic loss ``log(1 + exp(-y f))``, correct when ``y f > 0`` (paper,
    theory section). A 2-d ``output`` holds class logits: cross-entropy,
    correct when the argmax is the target (official ``train_util.py``).
    """
    if output.dim() == 1:
        margin = target * output
        return F.softplus(-margin), margin > 0
    return F.cross_entropy(output, target, reduction="none"), output.argmax(dim=1) == target


def per_example_margin(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The signed margin of each example, float ``(B,)``: positive when the example is classified correctly.

    A 1-d ``output`` (binary score, ``target`` in ``{-1, +1}``): ``y f``, the
    quantity the logistic loss reads (paper, theory section). A 2-d ``output``
    (class logits, int64 ``target``): the target's logit minus the largest
    other logit, the multi-class margin. A tie with another class gives 0.
    """
    if output.dim() == 1:
        return target * output
    target_logit = output.gather(1, target[:, None])[:, 0]
    others = output.scatter(1, target[:, None], float("-inf"))
    return target_logit - others.max(dim=1).values


class Score(NamedTuple):
    """A set's scores at one epoch: the ``loss``, ``accuracy`` and ``margin`` columns of its metric row (floats).

    ``margin`` is the mean of :func:`per_example_margin` over the set's examples.
    """

    loss: float
    accuracy: float
    margin: float


def loss_and_correct(output: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean loss and number of correct predictions (both 0-d tensors, no host sync); see
    :func:`per_example_loss_and_correct` for the losses."""
    if output.dim() == 1:
        margin = target * output
        return F.softplus(-margin).mean(), (margin > 0).sum()
    return F.cross_entropy(output, target), (output.argmax(dim=1) == target).sum()


@dataclass(frozen=True)
class Precision:
    """Numeric precision and memory layout of a run.

    ``bf16``: forward passes under ``torch.autocast`` in bfloat16 (the loss
    is computed in float32). ``memory_format``: the layout of 4-d model
    inputs and of the model, ``torch.channels_last`` or
    ``torch.contiguous_format`` (NCHW). Defaults (``docs/conventions.md``, "Device, precision and layout"):
    bf16 on CUDA devices with native bf16 (compute capability 8.0 or newer:
    :func:`lrorder.devices.native_bf16`; float32 on older GPUs, which would
    emulate bf16) and channels_last on any CUDA device, float32 and NCHW on
    the CPU (the schema's ``auto``); config keys ``training.precision`` and
    ``training.channels_last`` override them. :meth:`resolve` reads a
    missing key as ``fp32`` / ``false`` (the workflow always fills them).
    :meth:`identity` is part of a run's identity: a checkpoint is resumed
    only with the same one (:func:`train`).
    """

    device_type: str
    bf16: bool
    memory_format: torch.memory_format

    @classmethod
    def resolve(cls, training: Mapping[str, Any], device: torch.device,
                capability: tuple[int, int] | None = None) -> Precision:
        """The precision of a run on ``device``; ``capability`` (major, minor) of a CUDA device
        defaults to the device's own (:func:`lrorder.devices.native_bf16`)."""
        cuda = device.type == "cuda"
        precision = training.get("precision", "fp32")
        channels_last = training.get("channels_last", False)
        bf16 = precision == "bf16" or (precision == "auto" and devices.native_bf16(device, capability))
        last = channels_last is True or (channels_last == "auto" and cuda)
        return cls(device.type, bf16, torch.channels_last if last else torch.contiguous_format)

    def identity(self) -> dict[str, str]:
        """``{"device": "cpu"|"cuda", "precision": "bf16"|"fp32", "memory_format": "channels_last"|"nchw"}``."""
        return {"device": self.device_type, "precision": "bf16" if self.bf16 else "fp32",
                "memory_format": "channels_last" if self.memory_format is torch.channels_last else "nchw"}

    def autocast(self) -> torch.autocast:
        return torch.autocast(self.device_type, dtype=torch.bfloat16, enabled=self.bf16)

    def layout(self, x: torch.Tensor) -> torch.Tensor:
        """A 4-d ``x`` with the canonical strides of :attr:`memory_format`, else ``x``.

        The strides, not ``is_contiguous``, decide: with one channel an NCHW
        tensor also counts as channels-last contiguous (and vice versa), yet
        the convolution picks its algorithm from the strides, so a batch
        sliced from ``(N, H, W, 1)`` storage would otherwise run
        channels-last whatever the config says.
        """
        if x.dim() != 4:
            return x
        n, c, h, w = x.shape
        last = self.memory_format is torch.channels_last
        canonical = (h * w * c, 1, w * c, c) if last else (c * h * w, h * w, w, 1)
        return x if x.stride() == canonical else x.clone(memory_format=self.memory_format)


FP32 = Precision("cpu", False, torch.contiguous_format)


@torch.no_grad()
def per_example_outcomes(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int, precision: Precision = FP32
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Loss (float32 ``(N,)``), correctness (bool ``(N,)``) and margin (float32 ``(N,)``,
    :func:`per_example_margin`) of ``model`` (eval mode, no noise) on ``(x, y)``, in batches."""
    model.eval()
    losses, correct, margins = [], [], []
    for start in range(0, len(x), batch_size):
        with precision.autocast():
            out = model(precision.layout(x[start : start + batch_size])).float()
        loss, ok = per_example_loss_and_correct(out, y[start : start + batch_size])
        losses.append(loss)
        correct.append(ok)
        margins.append(per_example_margin(out, y[start : start + batch_size]))
    return torch.cat(losses), torch.cat(correct), torch.cat(margins)


def mean_scores(losses: torch.Tensor, correct: torch.Tensor, margins: torch.Tensor) -> Score:
    """The :class:`Score` of per-example outcomes: their means as Python floats (one host sync each)."""
    return Score(losses.double().mean().item(), correct.double().mean().item(), margins.double().mean().item())


def evaluate(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int, precision: Precision = FP32
) -> Score:
    """Mean loss, accuracy and margin of ``model`` (eval mode, no noise) on ``(x, y)``, in batches."""
    return mean_scores(*per_example_outcomes(model, x, y, batch_size, precision))


def enable_deterministic_algorithms() -> None:
    """Turn on ``torch.use_deterministic_algorithms(True)`` for eager execution.

    The public function also imports ``torch._inductor.config`` to set the
    compiler's flag, which costs about 1 s per training job (measured with
    torch 2.14.1, ``bench/job_overhead.py``); runs here are never compiled,
    so only the eager flag (the C binding the public function calls) is set.
    ``torch.are_deterministic_algorithms_enabled()`` is ``True`` afterwards.

    ``torch.utils.deterministic.fill_uninitialized_memory`` is turned off. With
    it on (torch's default under deterministic algorithms), every new tensor is
    first filled with NaN, so that a kernel reading memory it never wrote
    gives a visible, reproducible NaN: that fill took 8% of a small-CNN epoch
    on the CPU (torch 2.14.1, one thread; ``bench/epoch_overhead.py``). Every
    kernel a run here calls writes all of its output, so results are bitwise
    the same either way (``tests/test_train.py`` pins a run's metrics and
    weights against the fill).
    """
    torch._C._set_deterministic_algorithms(True)
    torch.utils.deterministic.fill_uninitialized_memory = False


def recalibrate_batchnorm(
    model: nn.Module,
    batch: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]],
    indices: torch.Tensor,
    batch_size: int,
    precision: Precision = FP32,
) -> None:
    """Re-estimate every BatchNorm layer's running mean and variance on training batches ("precise BN").

    The running statistics are reset and replaced by the average of the
    batch statistics over ``batch(idx)`` for ``idx`` in ``indices.split(batch_size)``
    (``torch.optim.swa_utils.update_bn``: train mode, no gradient, cumulative
    average), with pre-activation noise off. The parameters, the optimiser
    and every random stream of training are untouched, so a run trains
    exactly as with ``bn_eval: running``; only evaluation changes.

    Why: with momentum 0.1 the running statistics mix the last few dozen
    batches of an epoch, taken from weights that a large LR (or the last,
    smaller batch) moves a lot; evaluated with them, a network that fits its
    training batches can score near chance for one epoch (measured on the
    default patch study: ``bench/bn_eval.py``). The official code
    (``cwein3/large-lr-code``, ``train_util.py``) evaluates with the running
    statistics; this is an opt-in deviation (``training.bn_eval``).

    Args:
        model: a model with zero or more ``BatchNorm`` layers (none: no-op).
        batch: maps int64 indices ``(B,)`` to the training batch ``(x, y)``
            as the model sees it in training (normalised, patched).
        indices: int64 ``(K,)`` training indices to estimate from.
        batch_size: examples per forward pass.
        precision: autocast and memory layout of the forward passes.
    """
    set_preactivation_noise(model, 0.0, None)
    with precision.autocast():
        update_bn((precision.layout(batch(idx)[0]) for idx in indices.split(batch_size)), model)


TWO_STEP_SUFFIX = "_two_step"


def eval_inputs(data: TrainingData, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs and labels of evaluation set or subset ``name`` of ``data``.

    Raises:
        ConfigError: ``name`` is neither an evaluation set nor a subset.
    """
    if name in data.eval_sets:
        return data.eval_sets[name]
    if name in data.eval_subsets:
        parent, mask = data.eval_subsets[name]
        x, y = data.eval_sets[parent]
        return x[mask], y[mask]
    known = sorted([*data.eval_sets, *data.eval_subsets])
    raise ConfigError(f"training.two_step_eval: unknown evaluation set {name!r} (have: {', '.join(known)})")


@torch.no_grad()
def two_step_scores(
    model: nn.Module,
    params: Sequence[torch.Tensor],
    previous: Sequence[torch.Tensor],
    inputs: tuple[torch.Tensor, torch.Tensor],
    batch_size: int,
    precision: Precision = FP32,
) -> Score:
    """Mean loss, accuracy and margin of ``model`` averaged over its current parameters and ``previous`` ones.

    A large LR past the stability edge along a direction makes the iterate
    jump across a minimum every step (a period-2 oscillation; the synthetic
    study's large LR does this along the Q direction). Evaluated once per
    epoch after an even number of steps, every epoch sees the same phase of
    it; the average over the weights after the epoch's last two steps reads
    both phases. ``params`` are restored bitwise.

    Args:
        model: the network, whose parameters are ``params``.
        params: its trained parameters, in order.
        previous: the same parameters one step earlier (same shapes).
        inputs: ``(x, y)`` of the evaluation set.
        batch_size, precision: as in :func:`evaluate`.

    Returns:
        The :class:`Score` whose loss, accuracy and margin are the means of
        the two evaluations'.
    """
    current = [p.detach().clone() for p in params]
    now = evaluate(model, *inputs, batch_size, precision)
    for p, q in zip(params, previous):
        p.copy_(q)
    before = evaluate(model, *inputs, batch_size, precision)
    for p, q in zip(params, current):
        p.copy_(q)
    return Score(*((a + b) / 2 for a, b in zip(now, before)))


def scoring(run_cfg: Mapping[str, Any], data: TrainingData) -> dict[str, set[int]]:
    """The run's scoring plan: each evaluation set it reports, and the epochs at which it scores that set.

    From ``run_cfg["evaluation"]`` (:func:`lrorder.plan.evaluation`); a run
    config without it scores every set of ``data`` (and every
    ``<set>_two_step`` of ``training.two_step_eval``) at every epoch.

    Returns:
        ``{name: {epoch, ...}}``: names of sets, subsets and two-step sets as
        in ``metrics.csv``; 1-indexed epochs.

    Raises:
        ConfigError: ``evaluation.sets`` names a set that ``data`` does not have.
    """
    training = run_cfg["training"]
    known = [*data.eval_sets, *data.eval_subsets,
             *(name + TWO_STEP_SUFFIX for name in training.get("two_step_eval", []))]
    plan = run_cfg.get("evaluation")
    if plan is None:
        every_epoch = set(range(1, int(training["epochs"]) + 1))
        return {name: every_epoch for name in known}
    unknown = [name for name in plan["sets"] if name not in known]
    if unknown:
        raise ConfigError(f"evaluation.sets: unknown evaluation set {unknown[0]!r} (have: {', '.join(known)})")
    return {name: {int(epoch) for epoch in epochs} for name, epochs in plan["sets"].items()}


def score_sets(
    model: nn.Module,
    data: TrainingData,
    reported: set[str],
    batch_size: int,
    precision: Precision = FP32,
) -> dict[str, Score]:
    """Mean loss, accuracy and margin of ``model`` on each evaluation set and subset of ``data`` named in ``reported``.

    One forward pass per set that is reported itself or has a reported
    subset (a subset is scored from its set's per-example outcomes); sets
    with neither are skipped.

    Returns:
        ``{name: Score}``, in ``data``'s order of sets, each set before its subsets.
    """
    scores = {}
    for name, (x, y) in data.eval_sets.items():
        subsets = {sub: mask for sub, (parent, mask) in data.eval_subsets.items() if parent == name}
        if not reported.intersection([name, *subsets]):
            continue
        losses, correct, margins = per_example_outcomes(model, x, y, batch_size, precision=precision)
        if name in reported:
            scores[name] = mean_scores(losses, correct, margins)
        scores.update({sub: mean_scores(losses[mask], correct[mask], margins[mask])
                       for sub, mask in subsets.items() if sub in reported})
    return scores


def save_torch(obj: Any, path: str | os.PathLike, durable: bool = True) -> None:
    """``torch.save(obj)`` to ``path`` atomically, byte-identical for equal ``obj``.

    ``torch.save`` to a file names the archive inside after the file (here a
    random temporary name); serialising to a buffer first gives the fixed name
    ``archive``, so a resumed run's ``model.pt`` equals an uninterrupted one's
    byte for byte. ``durable``: :func:`lrorder.fileio.atomic_path`.
    """
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    fileio.write_bytes(path, buffer.getvalue(), durable)


#: Value of a checkpoint's ``"format"`` key; a file without it is not a checkpoint of this module.
#: v2 added ``threads`` and ``segments``; v3 packs the metric rows as columns (``metrics``,
#: :mod:`lrorder.metric_rows`); v4 added ``hardware`` (:meth:`Precision.identity`). An older
#: checkpoint is set aside like a foreign file.
CHECKPOINT_FORMAT = "lrorder.train checkpoint v4"

#: Keys of a segment of a run (``run.json``'s ``segments``, a checkpoint's ``segments``).
SEGMENT_KEYS = ("from_epoch", "to_epoch", "threads", "host", "slurm_job_id")


def checkpoint_state(config_hash: str, epoch: int, model: nn.Module, optimizer: SGD,
                     rows: Sequence[Mapping[str, Any]], threads: int = 1,
                     segments: Sequence[Mapping[str, Any]] = (),
                     hardware: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The checkpoint of ``epoch``: plain dicts, lists, str, int, float, bool, ``None`` and tensors only.

    Every value loads with ``torch.load(..., weights_only=True)``, which runs
    no code from the file (:func:`read_checkpoint`). No random generator state
    is saved: every draw is a function of ``(seed, stream, epoch)``.
    ``threads`` is the torch thread count the run trains with (a resumed run
    keeps it: :func:`resume_threads`); ``segments`` the run's segments so far,
    the last one ending at ``epoch`` (dicts with :data:`SEGMENT_KEYS`);
    ``metrics`` the metric rows so far, packed (:func:`lrorder.metric_rows.pack`);
    ``hardware`` the device type, precision and layout the run trains with
    (:meth:`Precision.identity`, default :data:`FP32`'s): a run resumes only with the same.
    The model's tensors are saved as they are (on the run's device);
    :func:`read_checkpoint` maps them to the resuming job's device.
    """
    return {
        "format": CHECKPOINT_FORMAT,
        "config_hash": config_hash,
        "epoch": int(epoch),
        "threads": int(threads),
        "hardware": dict(FP32.identity() if hardware is None else hardware),
        "segments": [dict(segment) for segment in segments],
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "metrics": metric_rows.pack(rows),
    }


def allowed_cpus() -> int:
    """CPUs this process may run on (its affinity mask: a SLURM job's allocation), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # no affinity masks on this platform
        return max(1, os.cpu_count() or 1)


def resume_threads(run: str, checkpoint_threads: int, requested: int, cpus: int) -> int:
    """The thread count a run resumed from a checkpoint of ``checkpoint_threads`` threads trains with.

    The thread count changes how torch splits its sums, so continuing with
    another one would silently change the results from there on. The
    checkpoint's count is re-applied whenever the job may use that many CPUs
    (``cpus``), whatever ``requested`` (the job's ``--threads``) says.

    Raises:
        ConfigError: ``checkpoint_threads > cpus``; one line naming ``run``,
            both thread counts and the CPUs allowed.
    """
    if checkpoint_threads == requested or checkpoint_threads <= cpus:
        return checkpoint_threads
    raise ConfigError(
        f"{run}: the checkpoint was written with {checkpoint_threads} threads, this job has {requested} threads "
        f"and {cpus} CPUs allowed; resuming would change the results: run it on {checkpoint_threads} CPUs "
        f"(--set-threads train={checkpoint_threads}) or delete the checkpoint to start over")


def _checkpoint_problem(state: Any) -> str | None:
    """Why ``state`` (a loaded object) is not a checkpoint of :func:`checkpoint_state`, or ``None``."""
    if not isinstance(state, dict):
        return f"a {type(state).__name__}, not a dict"
    if state.get("format") != CHECKPOINT_FORMAT:
        return "format marker missing" if "format" not in state else f"format {state['format']!r}"
    missing = {"config_hash", "epoch", "threads", "hardware", "segments", "model", "optimizer",
               "metrics"} - state.keys()
    if missing:
        return f"keys missing: {', '.join(sorted(missing))}"
    if not isinstance(state["config_hash"], str):
        return "config_hash is not a str"
    if type(state["epoch"]) is not int or state["epoch"] < 1:
        return "epoch is not a positive int"
    if type(state["threads"]) is not int or state["threads"] < 1:
        return "threads is not a positive int"
    hardware = state["hardware"]
    if not (isinstance(hardware, dict) and set(hardware) == set(FP32.identity())
            and all(isinstance(v, str) for v in hardware.values())):
        return "hardware is not a device, precision and memory format"
    segments = state["segments"]
    if not isinstance(segments, list) or not all(isinstance(s, dict) and set(s) == set(SEGMENT_KEYS)
                                                 for s in segments):
        return "segments are not run segments"
    model = state["model"]
    if not isinstance(model, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                              for k, v in model.items()):
        return "model is not a dict of tensors"
    optimizer = state["optimizer"]
    if not (isinstance(optimizer, dict) and isinstance(optimizer.get("state"), dict)
            and isinstance(optimizer.get("param_groups"), list)):
        return "optimizer is not an optimizer state dict"
    metrics = state["metrics"]
    packed = metric_rows.problem(metrics)
    if packed is not None:
        return f"metrics: {packed}"
    last = metrics["epoch"][-1].item() if len(metrics["epoch"]) else None
    if last is not None and last != state["epoch"]:
        return f"metrics end at epoch {last}, not {state['epoch']}"
    return None


def read_checkpoint(path: str | os.PathLike, device: torch.device) -> dict[str, Any] | None:
    """The checkpoint at ``path`` (see :func:`checkpoint_state`), or ``None`` when there is none.

    The file is unpickled with ``weights_only=True``: an object whose
    unpickling would run code is refused before any of it runs.

    Raises:
        DataError: the file exists but is not a checkpoint of this module:
            unreadable (truncated, not a torch file, an object other than
            plain containers and tensors) or foreign (no format marker,
            wrong keys or types). The message names the file.
        OSError: the file exists but cannot be read (no permission, I/O error).
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        with warnings.catch_warnings():  # torch's own notes on a foreign file: the DataError says it all
            warnings.simplefilter("ignore")
            state = torch.load(io.BytesIO(data), map_location=device, weights_only=True)
    except Exception as exc:  # torch raises many types for a file that is not a checkpoint
        raise DataError(f"{path}: not a readable checkpoint ({type(exc).__name__})") from None
    problem = _checkpoint_problem(state)
    if problem is not None:
        raise DataError(f"{path}: not a checkpoint of lrorder.train ({problem})")
    return state


def set_aside(path: str | os.PathLike) -> Path:
    """Rename the file at ``path`` to ``<name>.corrupt-<n>`` beside it and return the new path.

    ``n`` is the smallest positive integer whose name is free, so an earlier
    file set aside is never overwritten (a hard link claims the name
    atomically; where the file system has none, a checked rename).

    Raises:
        OSError: ``path`` is missing or cannot be renamed.
    """
    path = Path(path)
    n = 1
    while True:
        target = path.with_name(f"{path.name}.corrupt-{n}")
        try:
            os.link(path, target)
        except FileExistsError:
            n += 1
            continue
        except OSError:  # no hard links here
            if target.exists() or target.is_symlink():
                n += 1
                continue
            os.rename(path, target)
            return target
        path.unlink()
        return target


def train(
    run_cfg: Mapping[str, Any],
    data: TrainingData,
    device: torch.device,
    checkpoint: str | os.PathLike | None = None,
    log: Callable[[str], None] | None = None,
    before_eval: Callable[[nn.Module, int], None] | None = None,
    threads: int | None = None,
    segments: list[dict[str, Any]] | None = None,
    checkpoint_every: int = 1,
    checkpoint_minutes: float = 0,
) -> tuple[pd.DataFrame, nn.Module, int]:
    """Train one run and return ``(metrics, model, resumed_from_epoch)``.

    ``run_cfg`` is the resolved run config (:func:`lrorder.plan.run_config`).
    ``metrics`` has :data:`METRIC_COLUMNS`: the ``train`` row of every epoch,
    and one row per evaluation set at each epoch the run's scoring plan
    scores it (``run_cfg["evaluation"]``, :func:`scoring`); ``resumed_from_epoch`` is the last epoch found in ``checkpoint``
    (0 for a fresh start). The checkpoint (:func:`checkpoint_state`: format
    marker, model, optimiser, metrics so far, config hash, thread count,
    device type, precision and layout, segments) is written atomically after
    every ``checkpoint_every``-th epoch, and after any epoch that ends
    ``checkpoint_minutes`` (> 0) or more after the last checkpoint was
    written (or the run started). Every random draw is a function of
    ``(seed, stream, epoch)``, so resuming from any epoch's checkpoint ends
    as the uninterrupted run does; a run killed between checkpoints
    recomputes the epochs since the last one.

    A checkpoint of a different run config (the config was edited after a
    run was killed) is ignored, with a note on stderr, and the run starts over.
    An unreadable or foreign checkpoint (truncated, not a torch file, no
    format marker, wrong keys or types, or not loadable into this run's model
    and optimiser) is renamed to ``<name>.corrupt-<n>`` beside it
    (:func:`set_aside`), one line on stderr names both paths, and the run
    starts over from epoch 1, ending as an uninterrupted run would.
    ``log``, if given, receives one line per epoch (:func:`epoch_line`) and
    one when the run resumes.

    A run with a non-finite loss in an epoch (the training loss, the running
    mean of the minibatch losses, or any evaluation loss) has diverged: that epoch is completed
    (its evaluation rows are recorded as for any epoch), ``log`` gets one more
    line (:func:`divergence_line`), no checkpoint is written for it (a
    restarted run recomputes it, and diverges there again) and training
    stops. ``metrics`` then ends at that epoch and ``model`` holds the last
    (non-finite) state; :func:`diverged_epoch` reads the epoch back from
    ``metrics``.
    ``before_eval``, if given, is called as ``before_eval(model, epoch)``
    after the training steps of each epoch that scores a set, before the BatchNorm statistics are
    recalibrated and the evaluation sets scored (``bench/bn_eval.py`` scores
    the running statistics there); it must leave the model as it found it.

    ``threads`` (default: ``torch.get_num_threads()``) is the torch thread
    count asked for; a fresh run trains with it and records it in its
    checkpoint. A resumed CPU run trains with the checkpoint's count instead
    (:func:`resume_threads`; one line on stderr when it differs from
    ``threads``), or stops if the job may not use that many CPUs.
    ``segments``, if given, is filled with the run's segments, one per
    process that trained epochs of it, in order: dicts with
    :data:`SEGMENT_KEYS` (``slurm_job_id`` ``None`` outside SLURM).
    A checkpoint written on another device type, precision or layout
    (:meth:`Precision.identity`: e.g. a CPU run with ``device: auto`` resumed
    on a GPU node, where it would continue in bf16) is refused in one line:
    one run never mixes them.

    Raises:
        ConfigError: a CPU run resumed on fewer CPUs than its checkpoint's thread count;
            a checkpoint of another device type, precision or memory format.
        OSError: the checkpoint exists but cannot be read, or cannot be set aside.
    """
    seed = int(run_cfg["seed"])
    training = run_cfg["training"]
    lr_schedule = schedules.from_config(run_cfg["lr"], "lr")
    noise_schedule = schedules.from_config(run_cfg["preact_noise"], "preact_noise")
    grad_noise_schedule = schedules.from_config(run_cfg["grad_noise"], "grad_noise")
    config_hash = fileio.json_hash(run_cfg)
    precision = Precision.resolve(training, device)
    run_name = f"{run_cfg['study']}/{run_cfg['schedule']}/seed{seed}"
    start = resume(run_cfg, data, device, precision, checkpoint, config_hash, run_name, threads, log)
    model, optimizer, rows = start.model, start.optimizer, start.rows
    torch.set_num_threads(start.threads)
    segment = {"from_epoch": start.epoch + 1, "to_epoch": start.epoch, "threads": start.threads,
               "host": socket.gethostname(), "slurm_job_id": os.environ.get("SLURM_JOB_ID")}

    n = len(data.train_y)
    eval_batch_size = int(training.get("eval_batch_size", 1024))
    params = [p for p in model.parameters() if p.requires_grad]
    recalibration_examples = (min(n, int(training.get("bn_recalibration_examples", n)))
                              if training.get("bn_eval", "running") == "recalibrated" else 0)
    ident = {"study": run_cfg["study"], "schedule": run_cfg["schedule"], "seed": seed}
    plan = scoring(run_cfg, data)
    two_step_inputs = {name: eval_inputs(data, name) for name in training.get("two_step_eval", [])
                       if name + TWO_STEP_SUFFIX in plan}
    every_set = set(plan)

    def score(step: EpochResult, epoch: int, names: set[str]) -> dict[str, Score]:
        if before_eval is not None:
            before_eval(model, epoch)
        two_step = {name: inputs for name, inputs in two_step_inputs.items() if name + TWO_STEP_SUFFIX in names}
        return evaluate_epoch(model, params, data, step, device, precision, seed, epoch, names, two_step,
                              int(training["batch_size"]), eval_batch_size, recalibration_examples)

    last_checkpoint = time.monotonic()
    for epoch in range(start.epoch + 1, int(training["epochs"]) + 1):
        lr = lr_schedule.value(epoch)
        sigma = noise_schedule.value(epoch)
        step = train_epoch(model, optimizer, params, data, device, precision, seed, epoch, lr, sigma,
                           grad_noise_schedule.value(epoch), int(training["batch_size"]),
                           keep_previous=bool(two_step_inputs))
        epoch_row = {**ident, "epoch": epoch, "lr": lr, "noise": sigma}
        rows.append({**epoch_row, "eval_set": "train", "loss": step.loss, "accuracy": step.accuracy,
                     "margin": step.margin})
        # a run that diverges stops after this epoch and reports every set there, as at a last epoch
        reported = every_set if not math.isfinite(step.loss) else {
            name for name, epochs in plan.items() if epoch in epochs}
        scores = score(step, epoch, reported) if reported else {}
        if reported != every_set and not all(math.isfinite(value.loss) for value in scores.values()):
            scores = score(step, epoch, every_set)
        rows.extend({**epoch_row, "eval_set": name, **value._asdict()} for name, value in scores.items())
        segment["to_epoch"] = epoch
        nonfinite = nonfinite_losses([row for row in rows if row["epoch"] == epoch])
        diverged = bool(nonfinite)
        due = epoch % checkpoint_every == 0 or (
            checkpoint_minutes > 0 and time.monotonic() - last_checkpoint >= 60 * checkpoint_minutes)
        if checkpoint is not None and not diverged and due:
            # not flushed to the disk (durable=False: an fsync per epoch was about a fifth of a synthetic
            # run): a checkpoint a machine crash garbles is set aside on reading, and the run starts over
            save_torch(checkpoint_state(config_hash, epoch, model, optimizer, rows, start.threads,
                                        [*start.segments, segment], precision.identity()), checkpoint, durable=False)
            last_checkpoint = time.monotonic()
        if log is not None:
            log(epoch_line([row for row in rows if row["epoch"] == epoch], int(training["epochs"])))
        if diverged:
            if log is not None:
                log(divergence_line(run_name, epoch, nonfinite))
            break
    if segments is not None:
        segments[:] = [*start.segments, segment] if segment["to_epoch"] >= segment["from_epoch"] else start.segments
    return pd.DataFrame(rows, columns=list(METRIC_COLUMNS)), model, start.epoch


@dataclass
class Start:
    """Where a run starts (:func:`resume`).

    Attributes:
        model, optimizer: freshly initialised, or loaded from the checkpoint.
        rows: the metric rows of the epochs already trained (``[]`` fresh).
        epoch: the last epoch already trained (0 fresh).
        threads: the torch thread count to train with.
        segments: the earlier processes' segments (``[]`` fresh).
    """

    model: nn.Module
    optimizer: SGD
    rows: list[dict[str, Any]]
    epoch: int
    threads: int
    segments: list[dict[str, Any]]


def fresh_model(run_cfg: Mapping[str, Any], data: TrainingData, device: torch.device,
                precision: Precision) -> tuple[nn.Module, SGD]:
    """The run's model, initialised from stream ``init`` of its seed, on ``device`` in its layout, and its SGD
    optimiser (momentum, Nesterov and weight decay of ``training``; the LR set per epoch)."""
    training = run_cfg["training"]
    model = build_model(run_cfg["model"], data.input_shape, data.num_classes)
    model.reset_parameters(seeding.torch_generator(int(run_cfg["seed"]), "init"))
    model.to(device, memory_format=precision.memory_format)
    optimizer = SGD(
        model.parameters(),
        lr=schedules.from_config(run_cfg["lr"], "lr").initial,
        momentum=training["momentum"],
        nesterov=training["nesterov"],
        weight_decay=training["weight_decay"],
    )
    return model, optimizer


def resume(run_cfg: Mapping[str, Any], data: TrainingData, device: torch.device, precision: Precision,
           checkpoint: str | os.PathLike | None, config_hash: str, run_name: str, threads: int | None,
           log: Callable[[str], None] | None) -> Start:
    """Start a run fresh, or from its checkpoint (the rules are those of :func:`train`).

    Raises:
        ConfigError: a CPU run resumed on fewer CPUs than its checkpoint's thread count;
            a checkpoint of another device type, precision or memory format.
        OSError: the checkpoint exists but cannot be read, or cannot be set aside.
    """

    def start_over(problem: str) -> None:
        moved = set_aside(checkpoint)
        print(f"{problem}; moved to {moved}, starting over from epoch 1", file=sys.stderr, flush=True)

    model, optimizer = fresh_model(run_cfg, data, device, precision)
    state = None
    if checkpoint is not None:
        try:
            state = read_checkpoint(checkpoint, device)
        except DataError as exc:
            start_over(str(exc))
    if state is not None and state["config_hash"] != config_hash:
        print(f"{checkpoint}: checkpoint of a different run config (the config changed); starting over",
              file=sys.stderr)
        state = None
    if state is not None:
        try:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
        except (RuntimeError, ValueError, KeyError, TypeError) as exc:
            start_over(f"{checkpoint}: not a checkpoint of this run ({type(exc).__name__} loading it)")
            model, optimizer = fresh_model(run_cfg, data, device, precision)
            state = None
    hardware = precision.identity()
    if state is not None and state["hardware"] != hardware:
        raise ConfigError(
            f"{checkpoint}: written by a run on {hardware_text(state['hardware'])}, this job trains on "
            f"{hardware_text(hardware)}; one run never mixes them: set training.device / precision / channels_last "
            f"to match, or delete the checkpoint to start over")
    asked = torch.get_num_threads() if threads is None else max(1, int(threads))
    if state is None:
        return Start(model, optimizer, [], 0, asked, [])
    use_threads = asked
    if device.type == "cpu":
        use_threads = resume_threads(run_name, state["threads"], asked, allowed_cpus())
        if use_threads != asked:
            print(f"{run_name}: resuming with the checkpoint's {use_threads} threads instead of {asked} "
                  f"(a run keeps its thread count)", file=sys.stderr, flush=True)
    if log is not None:
        log(f"resuming from the checkpoint of epoch {state['epoch']}: {checkpoint}")
    return Start(model, optimizer, metric_rows.unpack(state["metrics"]), state["epoch"], use_threads,
                 [dict(segment) for segment in state["segments"]])


@dataclass
class EpochResult:
    """What one epoch of training leaves (:func:`train_epoch`).

    Attributes:
        loss, accuracy, margin: mean training loss, accuracy and margin (:func:`per_example_margin`) over the
            epoch's minibatches (running, as trained: with the epoch's noise and weights as they were at each step).
        batch: the epoch's batch maker (``TrainingData.make_epoch``), reused for BatchNorm recalibration.
        previous: the parameters before the epoch's last step (for two-step evaluation), or ``None``.
    """

    loss: float
    accuracy: float
    margin: float
    batch: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
    previous: list[torch.Tensor] | None


def train_epoch(model: nn.Module, optimizer: SGD, params: list[torch.Tensor], data: TrainingData,
                device: torch.device, precision: Precision, seed: int, epoch: int, lr: float, sigma: float, tau: float,
                batch_size: int, keep_previous: bool) -> EpochResult:
    """One epoch of minibatch SGD.

    The LR ``lr``; pre-activation noise of std ``sigma`` (stream
    ``preact_noise``) and Gaussian gradient noise of std ``tau`` added to
    every gradient coordinate before each step (stream ``grad_noise``); the
    example order a permutation from stream ``order`` (every stream seeded by
    ``(seed, stream, epoch)``: :mod:`lrorder.seeding`). With
    ``keep_previous``, the parameters before the last step are kept.
    """
    optimizer.lr = lr
    set_preactivation_noise(model, sigma, seeding.torch_generator(seed, "preact_noise", epoch, device=device))
    grad_gen = seeding.torch_generator(seed, "grad_noise", epoch, device=device)
    n = len(data.train_y)
    order = torch.randperm(n, generator=seeding.torch_generator(seed, "order", epoch)).to(device)
    batch = data.make_epoch(epoch)

    model.train()
    total_loss = torch.zeros((), device=device)
    total_correct = torch.zeros((), device=device, dtype=torch.long)
    total_margin = torch.zeros((), device=device, dtype=torch.float64)
    batches = order.split(batch_size)
    previous = None
    for step, idx in enumerate(batches):
        if keep_previous and step == len(batches) - 1:
            previous = [p.detach().clone() for p in params]
        x, y = batch(idx)
        with precision.autocast():
            output = model(precision.layout(x))
        loss, correct = loss_and_correct(output.float(), y)
        optimizer.zero_grad()
        loss.backward()
        if tau > 0:
            for p in params:
                p.grad.add_(torch.randn(p.shape, generator=grad_gen, device=device), alpha=tau)
        optimizer.step()
        total_loss += loss.detach() * len(idx)
        total_correct += correct
        total_margin += per_example_margin(output.detach().float(), y).double().sum()
    return EpochResult((total_loss / n).item(), (total_correct.double() / n).item(), (total_margin / n).item(), batch,
                       previous)


def evaluate_epoch(model: nn.Module, params: list[torch.Tensor], data: TrainingData, step: EpochResult,
                   device: torch.device, precision: Precision, seed: int, epoch: int, reported: set[str],
                   two_step: Mapping[str, tuple[torch.Tensor, torch.Tensor]], batch_size: int, eval_batch_size: int,
                   recalibration_examples: int) -> dict[str, Score]:
    """Score an epoch: ``{set name: Score}`` of every reported set, two-step sets included.

    First, with ``recalibration_examples`` > 0, the BatchNorm statistics are
    re-estimated on that many training examples (stream ``bn_recalibration``;
    ``training.bn_eval: recalibrated``); then :func:`score_sets`, and
    :func:`two_step_scores` for each set of ``two_step``.
    """
    if recalibration_examples:
        n = len(data.train_y)
        subset = torch.randperm(n, generator=seeding.torch_generator(seed, "bn_recalibration", epoch))
        recalibrate_batchnorm(model, step.batch, subset[:recalibration_examples].to(device), batch_size, precision)
    scores = score_sets(model, data, reported, eval_batch_size, precision)
    scores.update({name + TWO_STEP_SUFFIX: two_step_scores(model, params, step.previous, inputs, eval_batch_size,
                                                           precision)
                   for name, inputs in two_step.items()})
    return scores


def save_model(model: nn.Module, path: str | os.PathLike) -> None:
    """Write ``model``'s state dict to ``path`` atomically, every tensor on the CPU.

    The final weights of a GPU run load on a host without a GPU, with no
    ``map_location``. The tensors keep their dtypes and strides (a
    channels-last run's convolution weights stay channels-last).
    """
    save_torch({name: tensor.cpu() for name, tensor in model.state_dict().items()}, path)


def hardware_text(hardware: Mapping[str, str]) -> str:
    """``cuda, bf16, channels_last``: a :meth:`Precision.identity` for messages."""
    return ", ".join(hardware[key] for key in ("device", "precision", "memory_format"))


def nonfinite_losses(rows: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """``{eval_set: loss}`` of the rows (one epoch's metric rows) whose loss is NaN or infinite, in row order."""
    return {row["eval_set"]: float(row["loss"]) for row in rows if not math.isfinite(float(row["loss"]))}


def divergence_line(run: str, epoch: int, losses: Mapping[str, float]) -> str:
    """The log line of a run stopped by non-finite losses (:func:`nonfinite_losses`; the training
    loss alone when it is one of them), e.g.
    ``diverged: synthetic/large_lr/seed0 at epoch 1 (training loss nan); stopping`` or
    ``... at epoch 6 (test_p_only loss inf, test_q_only loss inf); stopping``."""
    if "train" in losses:  # the cause; the evaluation losses of a NaN model say nothing more
        losses = {"train": losses["train"]}
    parts = [f"{'training' if name == 'train' else name} loss {loss}" for name, loss in losses.items()]
    return f"diverged: {run} at epoch {epoch} ({', '.join(parts)}); stopping"


def diverged_epoch(metrics: pd.DataFrame) -> int | None:
    """The first epoch with a non-finite loss on any evaluation set (``train`` included), or ``None``.

    :func:`train` stops after that epoch, so it is the last epoch of a
    diverged run's ``metrics``.
    """
    bad = metrics.loc[~np.isfinite(metrics["loss"].to_numpy(dtype=float)), "epoch"]
    return int(bad.min()) if len(bad) else None


def epoch_line(rows: Sequence[Mapping[str, Any]], epochs: int) -> str:
    """One log line for an epoch's metric rows, e.g.
    ``epoch 3/200 lr 1 noise 0 | train loss 0.4512 acc 0.8120 | test loss 0.5011 acc 0.7900``."""
    first = rows[0]
    parts = [f"epoch {first['epoch']}/{epochs} lr {first['lr']:g} noise {first['noise']:g}"]
    parts += [f"{row['eval_set']} loss {row['loss']:.4f} acc {row['accuracy']:.4f}" for row in rows]
    return " | ".join(parts)


#: Start of the line that opens each attempt in a training log (:func:`attempt_marker`).
ATTEMPT_MARKER = "=== attempt "


def attempt_marker(log: str | os.PathLike, now: dt.datetime | None = None) -> str:
    """The line that opens an attempt of a job whose output is appended to ``log``.

    ``=== attempt <k> started <UTC time, ISO 8601 to the second> on <host>
    (SLURM job <id>) ===``, where ``k`` is one more than the number of lines
    in ``log`` that start with :data:`ATTEMPT_MARKER` (1 when ``log`` does
    not exist yet), so every start of the job (a retry, a requeue, a rerun
    after a kill) is numbered, and the SLURM part, from ``SLURM_JOB_ID``,
    is left out outside SLURM. ``now`` defaults to the current time.

    Raises:
        OSError: ``log`` exists but cannot be read.
    """
    try:
        with open(log, "rb") as fh:
            previous = sum(line.startswith(ATTEMPT_MARKER.encode()) for line in fh)
    except FileNotFoundError:
        previous = 0
    when = (now or dt.datetime.now(dt.timezone.utc)).astimezone(dt.timezone.utc).isoformat(timespec="seconds")
    job = os.environ.get("SLURM_JOB_ID")
    where = socket.gethostname() + (f" (SLURM job {job})" if job else "")
    return f"{ATTEMPT_MARKER}{previous + 1} started {when} on {where} ==="


def check_run_config(run_cfg: Any) -> study_kinds.StudyKind:
    """Check a ``--run-config`` against the config schema and return its study kind.

    The whole record against ``$defs/run_config``; its ``training`` against
    the kind's training definition (``StudyKind.training_schema``), where
    every key with a default is required except the job resources
    (``x-job-resource``: they arrive as flags). Defaults live in the schema
    only: the workflow fills them into each run config
    (``lrorder.plan.run_config``). Every number must be finite, and the
    epochs of each set's scoring plan within ``training.epochs`` and
    including it. Each schedule must build
    (:func:`lrorder.schedules.from_config`) and take a finite float32 value,
    and the learning rate a value > 0, in every epoch the run trains
    (:func:`lrorder.schedules.check_values`, as planning checks it). A
    schedule may name epochs beyond the run's: a pre-anneal run stops before
    its schedule's anneal, and the run config does not say whether a run is
    one, so a milestone or cosine end past ``training.epochs`` is left to the
    planner's check of the full study (values past the run are never used).

    Raises:
        ConfigError: one line naming the key, e.g. ``--run-config.training:
            'device' is a required property``.
    """
    schema.check(run_cfg, schema.definition("#/$defs/run_config"), "--run-config")
    check_finite(run_cfg, "--run-config")
    kind = study_kinds.KINDS[run_cfg["kind"]]
    training = schema.definition(kind.training_schema)
    resources = schema.job_resource_keys(kind.training_schema)
    training["required"] = list(schema.run_config_defaults(kind.training_schema))
    for key in resources:  # not part of a run's identity: a flag
        if key in run_cfg["training"]:
            raise ConfigError(f"--run-config.training.{key}: not allowed (a job resource: give it as a flag)")
    schema.check(run_cfg["training"], training, "--run-config.training")
    epochs = run_cfg["training"]["epochs"]
    for name, scored in run_cfg["evaluation"]["sets"].items():
        late = [epoch for epoch in scored if epoch > epochs]
        if late:
            raise ConfigError(f"--run-config.evaluation.sets.{name}: epochs {late} beyond training.epochs = {epochs}")
        if epochs not in scored:
            raise ConfigError(f"--run-config.evaluation.sets.{name}: expected the last epoch, training.epochs = "
                              f"{epochs}, among the scored epochs (aggregation reads every set there)")
    for part in schedules.PARTS:
        sched = schedules.from_config(run_cfg[part], f"--run-config.{part}")
        schedules.check_values(sched, epochs, f"--run-config.{part}", positive=part == "lr")
    return kind


def _cpu_kernels(run_config: str) -> str:
    """``training.cpu_kernels`` of the ``--run-config`` text; ``native`` when absent or unreadable
    (:func:`main` reports a bad ``--run-config`` after the attempt marker)."""
    try:
        return cpu_kernels.setting(json.loads(run_config)["training"])
    except (ValueError, TypeError, KeyError, AttributeError):
        return cpu_kernels.DEFAULT


def _reexec_with(variables: Mapping[str, str], argv: Sequence[str]) -> None:
    """Replace this process by ``python -m lrorder.train argv`` with ``variables`` added to its environment.

    The CPU kernel variables (:mod:`lrorder.cpu_kernels`) are read when
    torch is imported, which this module has done already. The workflow sets
    them in the job's command line, so this happens only when the module is
    run by hand.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, "-m", "lrorder.train", *argv], {**os.environ, **variables})


def main(argv: Sequence[str] | None = None) -> None:
    parser = cli.ArgumentParser(prog="python -m lrorder.train", description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="dataset folder (arrays + manifest.json)")
    parser.add_argument("--patch", help="patch arrays folder (patch study only)")
    parser.add_argument("--run-config", required=True, help="resolved run config as JSON (lrorder.plan.run_config)")
    parser.add_argument("--out-metrics", required=True, help="per-epoch tidy metrics CSV")
    parser.add_argument("--out-model", required=True, help="final model state_dict (.pt)")
    parser.add_argument("--out-run", required=True, help="provenance JSON (run.json)")
    parser.add_argument("--checkpoint", help="resumable checkpoint path (removed when the run completes)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads for torch")
    parser.add_argument("--gpus", type=int, default=0, help="GPUs the scheduler granted this job (Snakemake's "
                        "resources.gpu): training.device cuda needs 1, auto uses a GPU only when given one")
    parser.add_argument("--checkpoint-every", type=int, default=1, metavar="K",
                        help="write the checkpoint after every K-th epoch (training.checkpoint_every)")
    parser.add_argument("--checkpoint-minutes", type=float, default=0, metavar="M",
                        help="also after any epoch ending M minutes or more after the last checkpoint; 0: off "
                        "(training.checkpoint_minutes)")
    parser.add_argument("--attempt-log", help="log file this job's output is appended to: a numbered attempt "
                        "marker line is printed first (counting the markers already in it)")
    args = parser.parse_args(argv)
    for flag, value, least in (("--threads", args.threads, 1), ("--gpus", args.gpus, 0),
                               ("--checkpoint-every", args.checkpoint_every, 1),
                               ("--checkpoint-minutes", args.checkpoint_minutes, 0)):
        if not least <= value < math.inf:  # also refuses nan and inf
            parser.error(f"{flag}: expected a finite number >= {least}, got {value}")
    asked_kernels = _cpu_kernels(args.run_config)
    if cpu_kernels.missing(asked_kernels, os.environ):
        _reexec_with(cpu_kernels.env(asked_kernels), sys.argv[1:] if argv is None else argv)
    if args.attempt_log is not None:
        print(attempt_marker(args.attempt_log), flush=True)

    run_cfg = cli.parse_json_arg(args.run_config, "--run-config")
    kind = check_run_config(run_cfg)
    kernels = cpu_kernels.setting(run_cfg["training"])
    if kind.per_seed_patch != (args.patch is not None):
        raise ConfigError(f"--patch: required for study kind 'patch' and only for it (kind {kind.name!r})")
    threads = max(1, args.threads)
    torch.set_num_threads(threads)
    device = devices.pick_device(run_cfg["training"]["device"], args.gpus)
    gpu_lock = None
    if device.type == "cpu":
        enable_deterministic_algorithms()
    else:
        # held until this process ends: no other training job of this user trains on this GPU
        device, gpu_lock = devices.claim_gpu(log=lambda line: print(line, flush=True))
        torch.cuda.set_device(device)
        # fixed shapes, and CUDA training is not bitwise reproducible anyway: let cuDNN pick its fastest kernels
        torch.backends.cudnn.benchmark = True
    precision = Precision.resolve(run_cfg["training"], device)

    started = dt.datetime.now(dt.timezone.utc)
    t0 = time.perf_counter()
    data = study_data.LOADERS[kind.data_rule](args.data, device, run_cfg, args.patch)
    for out in (args.out_metrics, args.out_model, args.out_run):  # an unwritable output fails before training
        Path(out).parent.mkdir(parents=True, exist_ok=True)
    segments: list[dict[str, Any]] = []
    metrics, model, resumed_from = train(run_cfg, data, device, checkpoint=args.checkpoint,
                                         log=lambda line: print(line, flush=True), threads=threads,
                                         segments=segments, checkpoint_every=args.checkpoint_every,
                                         checkpoint_minutes=args.checkpoint_minutes)
    wall = time.perf_counter() - t0
    stopped = diverged_epoch(metrics)
    diverged = None
    if stopped is not None:
        rows = metrics[metrics["epoch"] == stopped]
        loss = rows.loc[rows["eval_set"] == "train", "loss"].iloc[0]
        diverged = {"epoch": stopped, "training_loss": str(float(loss)),
                    "nonfinite_losses": {k: str(v) for k, v in nonfinite_losses(rows.to_dict("records")).items()}}

    save_model(model, args.out_model)
    with fileio.atomic_path(args.out_metrics) as tmp:
        metrics.to_csv(tmp, index=False, float_format="%.8g")
    fileio.write_json(args.out_run, {
        "run_config": run_cfg,
        "run_config_sha256": fileio.json_hash(run_cfg),
        "dataset": {"path": str(args.data), "manifest_sha256": fileio.sha256_file(Path(args.data) / manifest.MANIFEST),
                    "files_sha256": data.sha256},
        "git": provenance.git_state(),
        "packages": provenance.package_versions(),
        "device": {"type": device.type,
                   **devices.describe(device),
                   "gpus_granted": args.gpus,
                   **{key: value for key, value in precision.identity().items() if key != "device"},
                   "cudnn_benchmark": device.type == "cuda" and torch.backends.cudnn.benchmark,
                   "threads": torch.get_num_threads(),
                   "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
                   "cpu_kernels": kernels,
                   "cpu_capability": torch.backends.cpu.get_cpu_capability(),
                   "cpu_kernel_env": cpu_kernels.recorded(os.environ)},
        "segments": segments,
        "diverged": diverged,
        # what this job wrote, so that a later change is never taken for a result (lrorder.manifest)
        manifest.RUN_OUTPUTS_KEY: {os.path.relpath(out, os.path.dirname(os.path.abspath(args.out_run))):
                                   fileio.sha256_file(out)
                                   for out in (os.path.abspath(args.out_metrics), os.path.abspath(args.out_model))},
        **provenance.environment(),
        "resumed_from_epoch": resumed_from,
        "started_utc": started.isoformat(),
        "ended_utc": dt.datetime.now(dt.timezone.utc).isoformat(),
        "wall_time_s": round(wall, 3),
    })
    if args.checkpoint is not None:
        Path(args.checkpoint).unlink(missing_ok=True)
    if gpu_lock is not None:
        gpu_lock.release()


if __name__ == "__main__":
    cli.run(main)
