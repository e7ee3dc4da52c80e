"""Tests of lrorder.slurm_status: the probe of SLURM accounting before a campaign submits jobs."""

from __future__ import annotations

import subprocess
from types import SimpleNamespace

import pytest

from lrorder import slurm_status


def fake_run(returncode: int = 0, stdout: str = "", stderr: str = "", raises: BaseException | None = None):
    calls = []

    def run(cmd, **kwargs):
        calls.append(cmd)
        if raises is not None:
            raise raises
        return subprocess.CompletedProcess(cmd, returncode, stdout, stderr)

    run.calls = calls
    return run


@pytest.mark.parametrize(
    ("run", "expected"),
    [
        (fake_run(0, "", ""), None),  # accounting answers (job 1 long gone: empty list)
        (fake_run(0, "1            \n"), None),
        (fake_run(1, "", "Slurm accounting storage is disabled\n"),
         "sacct exited with 1: Slurm accounting storage is disabled"),
        (fake_run(0, "Slurm accounting storage is disabled\n"), "sacct says: Slurm accounting storage is disabled"),
        (fake_run(1, "", "sacct: error: Problem talking to the database: Connection refused\nmore\n"),
         "sacct exited with 1: sacct: error: Problem talking to the database: Connection refused"),
        (fake_run(2), "sacct exited with 2"),
        (fake_run(raises=FileNotFoundError("sacct")), None),  # no sacct: the plugin polls with squeue itself
        (fake_run(raises=subprocess.TimeoutExpired("sacct", 30)), "sacct did not answer within 30 s"),
    ],
)
def test_accounting_problem(run, expected) -> None:
    assert slurm_status.accounting_problem(run) == expected


def test_status_command_problem_only_for_sacct() -> None:
    disabled = fake_run(1, "", "Slurm accounting storage is disabled\n")
    assert slurm_status.status_command_problem(SimpleNamespace(status_command="squeue"), disabled) is None
    assert slurm_status.status_command_problem(None, disabled) is None  # the local executor: no settings
    assert disabled.calls == []
    line = slurm_status.status_command_problem(SimpleNamespace(status_command="sacct"), disabled)
    assert line == ("SLURM accounting does not answer (sacct exited with 1: Slurm accounting storage is disabled), "
                    "so finished jobs would never be seen: add --slurm-status-command squeue to the command line, "
                    "or set slurm-status-command: squeue in profiles/slurm/config.yaml")
    assert disabled.calls == [["sacct", "-n", "-X", "-j", "1", "-o", "JobID"]]
    assert slurm_status.status_command_problem(SimpleNamespace(status_command="sacct"), fake_run(0)) is None
