"""Run the Snakemake workflow on a copy of the repository in a temporary folder."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SMOKE = ("--configfile", "presets/smoke.yaml")
WORKFLOW_FILES = ("Snakefile", "config.yaml", "workflow", "presets", "profiles", "envs", "src")


def make_workdir(path: Path) -> Path:
    """Copy the workflow files and the package source into ``path``."""
    path.mkdir(parents=True, exist_ok=True)
    for name in WORKFLOW_FILES:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, path / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(src, path / name)
    return path


def snakemake(workdir: Path, *args: str, timeout: float = 600, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run ``snakemake ARGS`` in ``workdir`` with this interpreter; capture output.

    ``env`` adds to (or overrides) this process's environment.
    """
    return subprocess.run(
        [sys.executable, "-m", "snakemake", *args],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def run_concurrently(runs: dict, timeout: float = 600, start_after: Path | None = None) -> dict:
    """Run several ``snakemake`` commands at once, each in its own workdir.

    ``runs`` maps a name to ``(workdir, args)``; returns ``{name: (workdir,
    returncode, stdout + stderr)}``. With ``start_after``, the first run starts
    alone and the others start once that file exists (or the first run has
    ended). A run still going after ``timeout`` seconds is interrupted
    (SIGINT: Snakemake cancels its cluster jobs) and reported with return code
    None.
    """
    deadline = time.monotonic() + timeout
    procs = {}
    for name, (workdir, args) in runs.items():
        if procs and start_after is not None:
            first = next(iter(procs.values()))[2]
            while not start_after.exists() and first.poll() is None and time.monotonic() < deadline:
                time.sleep(1)
        log = open(workdir / "snakemake.out", "w+")
        procs[name] = (workdir, log, subprocess.Popen([sys.executable, "-m", "snakemake", *args], cwd=workdir,
                                                      stdout=log, stderr=subprocess.STDOUT, text=True))
    results = {}
    for name, (workdir, log, proc) in procs.items():
        try:
            returncode = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=120)
            returncode = None
        log.seek(0)
        results[name] = (workdir, returncode, log.read())
        log.close()
    return results


def planned_jobs(result: subprocess.CompletedProcess) -> dict[str, int]:
    """Job counts per rule from the 'Job stats' table of a dry run (empty if nothing to do)."""
    counts: dict[str, int] = {}
    lines = result.stdout.splitlines() + result.stderr.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.startswith("Job stats:"))
    except StopIteration:
        return counts
    for line in lines[start + 3 :]:
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit() or parts[0] == "total":
            break
        counts[parts[0]] = int(parts[1])
    return counts


def _fields(text: str) -> dict:
    """``a=1, b=x`` of a dry run's job listing as ``{"a": 1, "b": "x"}`` (integers as int)."""
    fields = {}
    for item in text.split(", "):
        key, _, value = item.partition("=")
        fields[key] = int(value) if re.fullmatch(r"-?[0-9]+", value) else value
    return fields


def planned_job_details(result: subprocess.CompletedProcess) -> list[tuple[str, dict, dict]]:
    """``(rule, wildcards, resources)`` of every job a dry run lists, from its job blocks
    (``rule train:`` ... ``    wildcards: study=clean, ...`` ... ``    resources: tmpdir=/tmp, gpu=1, ...``;
    indented once more inside a group job's listing)."""
    jobs: list[tuple[str, dict, dict]] = []
    for line in (result.stdout + result.stderr).splitlines():
        line = line.strip()  # the jobs of a group job are listed indented
        match = re.fullmatch(r"(?:local)?rule (\w+):", line)
        if match:
            jobs.append((match[1], {}, {}))
        elif jobs and line.startswith("wildcards: "):
            jobs[-1][1].update(_fields(line[len("wildcards: "):]))
        elif jobs and line.startswith("resources: "):
            jobs[-1][2].update(_fields(line[len("resources: "):]))
    return jobs
