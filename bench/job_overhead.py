"""Per-job overhead of a synthetic training job: what the job spends outside loading data and training.

Runs one training job of the default synthetic study (200 epochs) through
Snakemake in a copy of the workflow, then compares the job's wall time
(Snakemake's ``benchmark`` file: interpreter start, imports, loading and
verifying the data, training, writing outputs) with the time the job's own
``run.json`` reports for loading the data and training. Also times a bare
``python -c "import lrorder.train"``.

Usage: python bench/job_overhead.py
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

REPO = Path(__file__).resolve().parents[1]
FILES = ("Snakefile", "config.yaml", "workflow", "presets", "profiles", "envs", "src")
RUN = "runs/synthetic/large_lr/seed0"


def main() -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
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


if __name__ == "__main__":
    main()
