"""The CPU kernel level of a training job (config key ``training.cpu_kernels``).

torch picks its CPU kernels (ATen's vectorised code, oneDNN's convolutions,
MKL's matrix products) for the instruction set of the machine it runs on,
so the same run can round differently on a CPU with AVX-512 than on one
with AVX2 only. ``avx2`` pins all three libraries to their AVX2 code paths
through environment variables that they read once, when torch is imported:

* ``ATEN_CPU_CAPABILITY=avx2``: ATen's dispatch level;
* ``ONEDNN_MAX_CPU_ISA=AVX2``: the highest instruction set oneDNN uses;
* ``MKL_CBWR=AVX2``: MKL's conditional numerical reproducibility mode.

``native`` leaves the environment as it is (each library picks the best
the CPU offers, unless the caller's environment says otherwise).
This module does not import torch, so the workflow can use it at plan time.
"""

from __future__ import annotations

import shlex
from typing import Mapping

#: Setting -> environment variables a training job runs with.
SETTINGS: dict[str, dict[str, str]] = {
    "native": {},
    "avx2": {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_CBWR": "AVX2"},
}

#: Every variable some setting sets (recorded in ``run.json`` whatever the setting).
VARIABLES = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_CBWR")

DEFAULT = "native"


def setting(training: Mapping[str, object]) -> str:
    """``training["cpu_kernels"]``, ``"native"`` when missing.

    Raises:
        ValueError: an unknown setting.
    """
    value = training.get("cpu_kernels", DEFAULT)
    if value not in SETTINGS:
        raise ValueError(f"training.cpu_kernels: expected one of {', '.join(SETTINGS)}, got {value!r}")
    return str(value)


def env(name: str) -> dict[str, str]:
    """The environment variables of setting ``name`` (empty for ``native``)."""
    return dict(SETTINGS[name])


def missing(name: str, environ: Mapping[str, str]) -> dict[str, str]:
    """The variables of setting ``name`` that ``environ`` lacks or holds another value of."""
    return {key: value for key, value in SETTINGS[name].items() if environ.get(key) != value}


def shell_prefix(name: str) -> str:
    """A shell command prefix that runs the next command with setting ``name``'s variables:
    ``"env ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_CBWR=AVX2 "``, or ``""`` for ``native``."""
    variables = env(name)
    if not variables:
        return ""
    return "env " + " ".join(f"{key}={shlex.quote(value)}" for key, value in variables.items()) + " "


def recorded(environ: Mapping[str, str]) -> dict[str, str | None]:
    """The values of :data:`VARIABLES` in ``environ`` (``None`` when unset), for ``run.json``."""
    return {key: environ.get(key) for key in VARIABLES}
