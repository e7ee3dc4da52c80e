"""Rounding perturbation: rerun the image studies with the other memory layout and 2 threads, and check the claims.

The default study's image studies (``clean``, ``patch``) are rerun under the
tag ``perturb`` (``presets/perturb.yaml``: the opposite ``channels_last`` of
each study, so every convolution rounds differently) with 2 threads per
training job; then their claims are compared with the reference campaign's.
From the repository root, with the interpreter running this script::

    snakemake --cores 2 results/perturb/claims/clean.csv results/perturb/claims/patch.csv \\
        --configfile presets/perturb.yaml --set-threads train=2
    python -m lrorder.compare default perturb --studies clean patch --check

The script exits with compare's status: 0 when every claim keeps its verdict
and each run's mean lies inside the other's reported (90%) CI, 1 otherwise (2: the
reference campaign is missing, or Snakemake failed). It needs the reference
campaign (``snakemake --cores 2``: results/default/claims.csv) and takes
about 20-30 minutes on 2 cores.

Usage: python bench/perturbation.py [--reference-tag default] [--tag perturb] [--cores 2] [--root results] [--dry-run]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import positive_int  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
PRESET = "presets/perturb.yaml"
PRESET_TAG = "perturb"  # the tag presets/perturb.yaml sets; another --tag is passed with --config
STUDIES = ("clean", "patch")
THREADS = 2


def snakemake_command(python: str, tag: str = PRESET_TAG, cores: int = 2, dry_run: bool = False) -> list[str]:
    """The Snakemake call of the perturbed run. Targets come before ``--configfile`` and
    ``--set-threads``: both take several values, and a target after them would be read as one of those."""
    targets = [f"results/{tag}/claims/{study}.csv" for study in STUDIES]
    command = [python, "-m", "snakemake", "--cores", str(cores), *(["-n", "-p"] if dry_run else []), *targets,
               "--configfile", PRESET]
    if tag != PRESET_TAG:
        command += ["--config", f"tag={tag}"]
    return command + ["--set-threads", f"train={THREADS}"]


def compare_command(python: str, reference: str, tag: str, root: Path) -> list[str]:
    """``lrorder.compare`` restricted to the image studies, with the stability check."""
    return [python, "-m", "lrorder.compare", reference, tag, "--root", str(root), "--studies", *STUDIES, "--check"]


def training_times(campaign: Path) -> str:
    """Wall times of the image studies' training runs of a campaign, from their run.json files."""
    runs = [json.loads(p.read_text()) for study in STUDIES for p in sorted(campaign.glob(f"runs/{study}/*/seed*/run.json"))]
    if not runs:
        return f"{campaign.name}: no run.json of {', '.join(STUDIES)}"
    span = (max(dt.datetime.fromisoformat(r["ended_utc"]) for r in runs)
            - min(dt.datetime.fromisoformat(r["started_utc"]) for r in runs)).total_seconds()
    threads = sorted({r["device"]["threads"] for r in runs})
    return (f"{campaign.name}: {len(runs)} training runs of {', '.join(STUDIES)}, threads per run "
            f"{'/'.join(map(str, threads))}: {sum(r['wall_time_s'] for r in runs):.0f} s summed, "
            f"{span:.0f} s from the first start to the last end")


def fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference-tag", default="default", help="tag of the reference campaign (default: default)")
    parser.add_argument("--tag", default=PRESET_TAG, help=f"tag of the perturbed run (default: {PRESET_TAG})")
    parser.add_argument("--cores", type=positive_int, default=2, help=f"cores for Snakemake (at least {THREADS})")
    parser.add_argument("--root", default="results",
                        help="folder holding the campaigns, relative to the repository root (default: results, "
                             "where the workflow writes them)")
    parser.add_argument("--dry-run", action="store_true", help="show the perturbed run's jobs (snakemake -n -p) only")
    args = parser.parse_args()
    if args.cores < THREADS:
        parser.error(f"--cores: at least {THREADS} (each training job runs {THREADS} threads)")
    if args.tag == args.reference_tag:
        parser.error("--tag: must differ from --reference-tag")
    root = REPO / args.root
    reference = root / args.reference_tag / "claims.csv"
    if not reference.is_file():
        fail(f"{reference} not found: run the reference campaign first (snakemake --cores 2)")

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO / "src"), os.environ.get("PYTHONPATH")]))}
    start = time.perf_counter()
    status = subprocess.run(snakemake_command(sys.executable, args.tag, args.cores, args.dry_run), cwd=REPO,
                            env=env).returncode
    elapsed = time.perf_counter() - start
    if status != 0:
        fail(f"snakemake failed (exit {status}); job logs under logs/{args.tag}/")
    if args.dry_run:
        return
    print(f"\nperturbed run: snakemake took {elapsed:.0f} s")
    for tag in (args.reference_tag, args.tag):
        print(training_times(root / tag))
    print(flush=True)
    sys.exit(subprocess.run(compare_command(sys.executable, args.reference_tag, args.tag, root), cwd=REPO,
                            env=env).returncode)


if __name__ == "__main__":
    main()
