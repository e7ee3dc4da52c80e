"""Workflow overhead: wall time of ``snakemake -n`` on the paper preset's DAG (target: at most 5 s).

Runs from a copy of the workflow in a temporary folder (so no results of
this checkout are read), with the interpreter running this script.

Usage: python bench/dag_overhead.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import median_of, positive_int, report  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
FILES = ("Snakefile", "config.yaml", "workflow", "presets", "profiles", "envs", "src")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=positive_int, default=3, help="dry runs timed; the median counts")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for name in FILES:
            src = REPO / name
            (shutil.copytree if src.is_dir() else shutil.copy2)(src, Path(tmp) / name)
        command = [sys.executable, "-m", "snakemake", "-n", "--quiet", "all", "--configfile", "presets/paper.yaml"]

        def dry_run() -> None:
            subprocess.run(command, cwd=tmp, check=True, capture_output=True)

        jobs = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--configfile", "presets/paper.yaml"],
                              cwd=tmp, check=True, capture_output=True, text=True).stdout
        total = next((line.split()[1] for line in jobs.splitlines() if line.startswith("total")), "?")
        seconds = median_of(dry_run, args.repeats)
    print(f"snakemake -n --configfile presets/paper.yaml: {total} jobs planned")
    ok = report("dry-run wall time (median)", seconds, 5.0, higher_is_better=False, unit=" s")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
