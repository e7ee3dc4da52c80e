"""Whether SLURM's accounting answers, checked before a campaign submits jobs.

snakemake-executor-plugin-slurm polls job states with ``sacct`` whenever the
``sacct`` command exists (its default ``slurm-status-command``). On a cluster
whose accounting storage is disabled, ``sacct`` exits 0 and lists nothing, so
finished jobs are never seen as finished and the campaign waits forever.
The Snakefile's ``onstart`` handler calls :func:`status_command_problem`
before the first job is submitted and stops with one line instead.
"""

from __future__ import annotations

import subprocess
from typing import Any, Callable

#: Seconds ``sacct`` may take to answer the probe.
SACCT_TIMEOUT = 30

FIX = ("add --slurm-status-command squeue to the command line, or set slurm-status-command: squeue "
       "in profiles/slurm/config.yaml")


def accounting_problem(run: Callable[..., Any] = subprocess.run) -> str | None:
    """Why ``sacct`` cannot report job states here, or None when it can (or is not installed).

    Probes ``sacct -n -X -j 1 -o JobID`` (a query of one job id, any answer
    is fine). A missing ``sacct`` is not a problem: the plugin then polls
    with ``squeue`` by itself.

    Args:
        run: ``subprocess.run`` (a stand-in in tests).

    Returns:
        The reason in a few words (sacct's own first line where it gives
        one), or None.
    """
    try:
        done = run(["sacct", "-n", "-X", "-j", "1", "-o", "JobID"], capture_output=True, text=True,
                   timeout=SACCT_TIMEOUT)
    except FileNotFoundError:
        return None
    except subprocess.TimeoutExpired:
        return f"sacct did not answer within {SACCT_TIMEOUT} s"
    text = (done.stdout + done.stderr).strip()
    first = text.splitlines()[0].strip() if text else ""
    if done.returncode != 0:
        return f"sacct exited with {done.returncode}" + (f": {first}" if first else "")
    if "accounting storage is disabled" in text.lower():
        return f"sacct says: {first}"
    return None


def status_command_problem(executor_settings: Any, run: Callable[..., Any] = subprocess.run) -> str | None:
    """One line for a campaign whose SLURM job states could never be read, or None.

    Args:
        executor_settings: ``workflow.executor_settings`` (the SLURM
            plugin's settings carry ``status_command``; other executors' do
            not, and get None).
        run: ``subprocess.run`` (a stand-in in tests).
    """
    if getattr(executor_settings, "status_command", None) != "sacct":
        return None
    problem = accounting_problem(run)
    if problem is None:
        return None
    return f"SLURM accounting does not answer ({problem}), so finished jobs would never be seen: {FIX}"
