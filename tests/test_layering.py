"""Layering: the workflow's planning code and the dataset jobs import no torch (issue 14).

``lrorder.plan`` is imported by every Snakemake invocation, and the dataset
jobs (``python -m lrorder.data.synthetic``, ``lrorder.data.images`` for
mnist5k, ``lrorder.data.patch``) draw with NumPy alone: importing torch
would cost each of them seconds. A fresh interpreter checks it, since this
test process has torch loaded already.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

TORCH_FREE = ["lrorder.plan", "lrorder.data.patch", "lrorder.data.patch_params", "lrorder.data.synthetic",
              "lrorder.data.images", "lrorder.data.fetch", "lrorder.schema",
              "lrorder.data.mnist5k", "lrorder.data.image_dataset"]


@pytest.mark.parametrize("module", TORCH_FREE)
def test_module_imports_no_torch(module: str) -> None:
    code = f"import sys, {module}; print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'torchvision')))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]", f"import {module} imports {result.stdout.strip()}"
