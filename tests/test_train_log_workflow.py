"""The workflow's training log keeps every attempt of a job (Snakemake empties a rule's log: file per attempt)."""

from __future__ import annotations

import pytest

from workflow_utils import SMOKE, make_workdir, snakemake

pytestmark = pytest.mark.workflow

RUN = "results/smoke/runs/synthetic/large_lr/seed0"
LOG = "logs/smoke/train/synthetic/large_lr/seed0"


def test_attempts_log_keeps_every_attempt_and_failures_fail(tmp_path) -> None:
    workdir = make_workdir(tmp_path / "wd")
    target = f"{RUN}/metrics.csv"
    for force in ((), ("--forcerun", "train")):
        result = snakemake(workdir, target, "--cores", "1", *force, *SMOKE, timeout=300)
        assert result.returncode == 0, result.stderr[-3000:]

    attempts = (workdir / f"{LOG}.attempts.log").read_text().splitlines()
    assert [line.split(" started ")[0] for line in attempts if line.startswith("===")] == [
        "=== attempt 1", "=== attempt 2"]
    epochs = [line.split(" lr ")[0] for line in attempts if line.startswith("epoch ")]
    assert epochs == [f"epoch {e}/6" for e in range(1, 7)] * 2
    current = (workdir / f"{LOG}.log").read_text().splitlines()  # this attempt only
    assert current == attempts[len(attempts) // 2:]

    (workdir / RUN / "checkpoint.pt").mkdir()  # unreadable: the job must fail with training's error
    result = snakemake(workdir, target, "--cores", "1", "--forcerun", "train", *SMOKE, timeout=300)
    assert result.returncode == 1, result.stderr[-3000:]
    assert "MissingOutputException" not in result.stderr
    last = (workdir / f"{LOG}.log").read_text().splitlines()
    assert last[0].startswith("=== attempt 3 started ")
    assert last[-1] == f"error: {RUN}/checkpoint.pt: Is a directory", last
    assert (workdir / f"{LOG}.attempts.log").read_text().splitlines()[len(attempts):] == last
