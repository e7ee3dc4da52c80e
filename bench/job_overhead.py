"""Per-job overhead of a synthetic training job: what the job spends outside loading data and training.

Runs one training job of the default synthetic study (200 epochs) through
Snakemake in a copy of the workflow, then compares the job's wall time
(Snakemake's ``benchmark`` file: interpreter start, imports, loading and
verifying the data, training, writing outputs) with the time the job's own
``run.json`` reports for loading the data and training. Also times a bare
``python -c "import lrorder.train"``, and, side by side in fresh
interpreters (alternating rounds, fastest kept), what a job pays to build
its optimizer and take one step with ``torch.optim.SGD`` (which imports
``torch._dynamo``) and with ``lrorder.sgd.SGD`` (the same update through
``torch.optim.sgd.sgd``), after ``import torch`` in both.

Usage: python bench/job_overhead.py [--rounds N]
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import positive_int

REPO = Path(__file__).resolve().parents[1]
FILES = ("Snakefile", "config.yaml", "workflow", "presets", "profiles", "envs", "src")
RUN = "runs/synthetic/large_lr/seed0"
OPTIMIZERS = {
    "torch.optim.SGD": "opt = torch.optim.SGD([p], lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)",
    "lrorder.sgd.SGD": "from lrorder.sgd import SGD; opt = SGD([p], 0.1, 0.9, True, 5e-4)",
}


def optimizer_start_up(build: str) -> float:
    """Seconds a fresh interpreter spends, after ``import torch``, building ``build``'s optimizer and stepping once."""
    code = ("import sys, time, torch; p = torch.zeros(3, requires_grad=True); start = time.perf_counter(); "
            f"{build}; p.sum().backward(); opt.step(); print(time.perf_counter() - start)")
    out = subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO / "src", capture_output=True, text=True)
    return float(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=positive_int, default=3, help="alternating rounds of the optimizer timing")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for name in FILES:
            src = REPO / name
            (shutil.copytree if src.is_dir() else shutil.copy2)(src, Path(tmp) / name)
        subprocess.run([sys.executable, "-m", "snakemake", f"results/default/{RUN}/metrics.csv", "--cores", "1",
                        "--quiet", "all"], cwd=tmp, check=True, capture_output=True)
        with open(Path(tmp) / "results" / "default" / "benchmarks" / "train" / "synthetic" / "large_lr" / "seed0.tsv") as fh:
            job = float(next(csv.DictReader(fh, delimiter="\t"))["s"])
        inside = json.loads((Path(tmp) / "results" / "default" / RUN / "run.json").read_text())["wall_time_s"]
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import lrorder.train"], check=True, cwd=REPO / "src")
    imports = time.perf_counter() - start
    print("one synthetic training job of the default study (200 epochs, 1 thread)")
    print(f"job wall time (Snakemake benchmark):          {job:6.2f} s")
    print(f"loading + verifying data and training:        {inside:6.2f} s")
    print(f"outside (start, imports, writing outputs):    {job - inside:6.2f} s  = {100 * (job - inside) / job:.1f}% of the job")
    print(f"python -c 'import lrorder.train' alone:       {imports:6.2f} s")
    best = {name: float("inf") for name in OPTIMIZERS}
    for _ in range(args.rounds):
        for name, build in OPTIMIZERS.items():
            best[name] = min(best[name], optimizer_start_up(build))
    print(f"optimizer built + one step, fresh interpreter, fastest of {args.rounds} alternating rounds:")
    for name, seconds in best.items():
        print(f"  {name:16s} {seconds:6.3f} s")
    print(f"  saved per job:   {best['torch.optim.SGD'] - best['lrorder.sgd.SGD']:6.3f} s")


if __name__ == "__main__":
    main()
