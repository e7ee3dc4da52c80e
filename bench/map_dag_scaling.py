"""Planning cost of large maps: wall time of ``snakemake -n maps`` for maps of 500, 1,000 and 5,000 runs.

The study of ``presets/maps.yaml`` with its sweeps replaced by one grid of
initial LRs x anneal epochs over 5 seeds (100, 200 and 1,000 cells; plus its
4 declared schedules' 20 runs), each
planned with ``snakemake maps -n --quiet all`` from a copy of the workflow in
a temporary folder (no results of this checkout are read), in the same run so
that the ratios compare like with like. Reports each median and the growth
from 500 runs: linear planning gives 2x and 10x. Target: 5,000 runs planned
in under a minute.

Usage: python bench/map_dag_scaling.py [--repeats 3] [--runs 500 1000 5000]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import median_of, positive_int, report  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
FILES = ("Snakefile", "config.yaml", "workflow", "presets", "profiles", "envs", "src")
SEEDS = 5
#: Anneal epochs of the grid: 6..25, within the preset's 40 epochs (its statistics read the 5 epochs before the
#: anneal); 100, 200 and 1,000 cells are 5, 10 and 50 LRs by these 20.
ANNEALS = list(range(6, 26))


def grid_layer(runs: int) -> dict:
    """A layer over ``config.yaml``: the study of ``presets/maps.yaml`` as ``grid``, its sweeps replaced by one grid
    of ``runs / 5`` cells (initial LRs x anneal epochs), 5 seeds, without its curvature runs. The default studies stay in the config but not in
    the DAG of the ``maps`` target."""
    cells = runs // SEEDS
    n_anneal = min(len(ANNEALS), cells)
    n_lr = cells // n_anneal
    if n_lr * n_anneal * SEEDS != runs:
        raise SystemExit(f"--runs {runs}: expected a multiple of {SEEDS} whose cells split into LRs x anneal epochs")
    lrs = [float(f"{lr:.4g}") for lr in np.geomspace(0.02, 2.0, n_lr)]
    study = yaml.safe_load((REPO / "presets" / "maps.yaml").read_text())["studies"]["map"]
    study.update(seeds=list(range(SEEDS)),
                 sweeps={"grid": {"base": "large_lr", "axes": {"lr": lrs, "anneal": ANNEALS[:n_anneal]}}})
    study.pop("curvature", None)  # names cells of the preset's own sweep; the planning of runs is what is timed
    return {"tag": "scaling", "studies": {"grid": study}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=positive_int, default=3, help="dry runs timed per size; the median counts")
    parser.add_argument("--runs", type=positive_int, nargs="+", default=[500, 1000, 5000], metavar="N")
    args = parser.parse_args()
    times: dict[int, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in FILES:
            src = REPO / name
            (shutil.copytree if src.is_dir() else shutil.copy2)(src, Path(tmp) / name)
        for runs in args.runs:
            layer = Path(tmp) / f"grid{runs}.yaml"
            layer.write_text(yaml.safe_dump(grid_layer(runs)))
            # targets first: --quiet and --configfile take several values
            command = [sys.executable, "-m", "snakemake", "maps", "-n", "--configfile", layer.name, "--quiet", "all"]
            listing = subprocess.run(command[:-2], cwd=tmp, check=True, capture_output=True, text=True).stdout
            planned = next((line.split()[1] for line in listing.splitlines() if line.startswith("total")), "?")
            times[runs] = median_of(lambda: subprocess.run(command, cwd=tmp, check=True, capture_output=True),
                                    args.repeats)
            print(f"{runs} training runs ({planned} jobs planned): snakemake -n {times[runs]:.2f} s (median of "
                  f"{args.repeats})")
    base = min(times)
    for runs, seconds in times.items():
        print(f"  {runs:>5} runs: {seconds / times[base]:.2f}x the time of {base} runs ({runs / base:.0f}x the runs)")
    ok = report("snakemake -n on the largest map (median)", times[max(times)], 60.0, higher_is_better=False, unit=" s")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
