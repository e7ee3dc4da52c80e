"""Tests of lrorder.verify and the results manifest (lrorder.manifest) on a small hand-made campaign."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lrorder import manifest, plan, verify
from lrorder.data import images, patch, patch_params, synthetic
from lrorder.errors import DataError

RUN_FILES = {"metrics.csv": b"epoch,accuracy\n1,0.5\n", "model.pt": b"weights"}
RUN_JSON = json.dumps({"diverged": None, "outputs_sha256": {name: hashlib.sha256(data).hexdigest()
                                                            for name, data in RUN_FILES.items()}}).encode()
RUN_FILES["run.json"] = RUN_JSON


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def campaign(tmp_path: Path, monkeypatch) -> Path:
    """results/t: one dataset (two arrays), one run, one claims table and their results manifest; cwd = tmp_path."""
    monkeypatch.chdir(tmp_path)
    root = Path("results") / "t"
    manifest.save_dataset(
        root / "data" / "synthetic" / "seed0",
        {"train_x": np.arange(6, dtype=np.float32), "train_y": np.array([1, -1], dtype=np.int8)},
        generator="test", generator_version="1", params={}, seed=0,
    )
    run = root / "runs" / "synthetic" / "large_lr" / "seed0"
    run.mkdir(parents=True)
    for name, data in RUN_FILES.items():
        (run / name).write_bytes(data)
    (root / "claims.csv").write_text("claim,verdict\n4,inconclusive\n")
    files = [*(run / name for name in RUN_FILES), root / "claims.csv", root / "data" / "synthetic" / "seed0" / "manifest.json"]
    manifest.save_results_manifest(root / "manifest.json", files)
    return root


def run_verify(*args: str) -> tuple[int, list[str]]:
    result = subprocess.run([sys.executable, "-m", "lrorder.verify", *args], capture_output=True, text=True)
    return result.returncode, (result.stdout + result.stderr).splitlines()


def test_results_manifest_lists_every_file_relative_and_sorted(campaign: Path) -> None:
    written = json.loads((campaign / "manifest.json").read_text())
    assert written["kind"] == "results"
    assert list(written["files"]) == [
        "claims.csv",
        "data/synthetic/seed0/manifest.json",
        "runs/synthetic/large_lr/seed0/metrics.csv",
        "runs/synthetic/large_lr/seed0/model.pt",
        "runs/synthetic/large_lr/seed0/run.json",
    ]
    assert written["files"]["runs/synthetic/large_lr/seed0/model.pt"] == sha(b"weights")


def test_results_manifest_refuses_files_outside_or_missing(campaign: Path) -> None:
    outside = Path("elsewhere.csv")
    outside.write_text("x\n")
    with pytest.raises(DataError, match=r"^elsewhere.csv: outside results/t \(a results manifest"):
        manifest.save_results_manifest(campaign / "manifest.json", [outside])
    with pytest.raises(DataError, match=r"^results/t/gone.csv: not found"):
        manifest.save_results_manifest(campaign / "manifest.json", [campaign / "gone.csv"])


def test_all_good_exits_0_with_one_summary_line(campaign: Path) -> None:
    assert run_verify() == (0, [
        "ok: 1 campaign, 1 dataset manifest (2 arrays), 1 results manifest (5 files); "
        "every file present, every sha256 as listed"
    ])
    assert run_verify("--results", "results", "t") == run_verify()


def test_damaged_array_is_one_line_and_exit_1(campaign: Path) -> None:
    array = campaign / "data" / "synthetic" / "seed0" / "train_x.npy"
    want = sha(array.read_bytes())
    data = bytearray(array.read_bytes())
    data[-1] ^= 0xFF  # one byte of the last float flipped
    array.write_bytes(bytes(data))
    assert run_verify("t") == (1, [
        f"damaged: results/t/data/synthetic/seed0/train_x.npy (sha256 {sha(bytes(data))}, manifest says {want})",
        "failed: 1 file missing or damaged; checked 1 campaign, 1 dataset manifest (2 arrays), "
        "1 results manifest (5 files)",
    ])


def test_missing_result_file_is_one_line_and_exit_1(campaign: Path) -> None:
    (campaign / "runs" / "synthetic" / "large_lr" / "seed0" / "model.pt").unlink()
    code, lines = run_verify()
    assert code == 1
    assert lines[0] == "missing: results/t/runs/synthetic/large_lr/seed0/model.pt (listed in results/t/manifest.json)"
    assert len(lines) == 2 and lines[1].startswith("failed: 1 file missing or damaged;")


def test_missing_array_and_damaged_dataset_manifest(campaign: Path) -> None:
    data = campaign / "data" / "synthetic" / "seed0"
    (data / "train_y.npy").unlink()
    report = verify.verify("results")
    assert report.problems == [
        "missing: results/t/data/synthetic/seed0/train_y.npy (listed in results/t/data/synthetic/seed0/manifest.json)"
    ]
    (data / "manifest.json").write_text("{")
    report = verify.verify("results")
    assert report.problems[0] == (
        "damaged: results/t/data/synthetic/seed0/manifest.json (not a manifest: no JSON object with a files mapping)"
    )
    assert report.problems[1].startswith("damaged: results/t/data/synthetic/seed0/manifest.json (sha256 ")


def test_campaign_without_results_manifest_is_noted_not_failed(campaign: Path) -> None:
    (campaign / "manifest.json").unlink()
    assert run_verify() == (0, [
        "note: results/t/manifest.json not found: the result files of results/t are not checked, except the "
        "training runs' outputs against their run.json (the campaign is unfinished, or older than results manifests; snakemake writes it last)",
        "ok: 1 campaign, 1 dataset manifest (2 arrays), 0 results manifests (0 files); "
        "every file present, every sha256 as listed",
    ])


def test_unknown_campaign_or_folder_is_one_line_exit_2(campaign: Path) -> None:
    assert run_verify("nope") == (2, ["error: results/nope: no such campaign"])
    assert run_verify("--results", "elsewhere") == (2, [
        "error: elsewhere: no such folder (give the results folder with --results)"
    ])


def test_a_run_output_damaged_after_its_job_is_never_blessed(campaign: Path) -> None:
    """Regression: a byte flipped in model.pt, then any rerun rewrote the results manifest with the
    damaged file's sha256, and verify said ok."""
    model = campaign / "runs" / "synthetic" / "large_lr" / "seed0" / "model.pt"
    model.write_bytes(b"weightz")
    files = [p for p in campaign.rglob("*") if p.is_file() and p.name != "manifest.json"]
    with pytest.raises(DataError) as err:
        manifest.save_results_manifest(campaign / "manifest.json", files)
    assert str(err.value) == (f"{model}: sha256 {sha(b'weightz')} differs from {sha(b'weights')}, recorded by its "
                              f"training job in {model.parent / 'run.json'} (changed after the job wrote it); delete "
                              "it and rerun snakemake to rebuild it")
    code, lines = run_verify("t")  # the earlier results manifest still holds the right sha256
    assert code == 1 and lines[0] == f"damaged: {model} (sha256 {sha(b'weightz')}, manifest says {sha(b'weights')})"
    assert len(lines) == 2  # reported once, not again from run.json
    (campaign / "manifest.json").unlink()  # without a results manifest, run.json's record still catches it
    code, lines = run_verify("t")
    assert code == 1
    assert (f"damaged: {model} (sha256 {sha(b'weightz')}, its training job recorded {sha(b'weights')} "
            f"in {model.parent / 'run.json'})") in lines


def test_run_json_without_recorded_outputs_is_not_checked(tmp_path: Path) -> None:
    (tmp_path / "run.json").write_text('{"diverged": null}')
    assert manifest.run_output_problems(tmp_path / "run.json") == []
    (tmp_path / "run.json").write_text('{"outputs_sha256": ["model.pt"]}')
    with pytest.raises(DataError, match="outputs_sha256: expected a mapping"):
        manifest.run_output_problems(tmp_path / "run.json")


def test_declared_data_arrays_are_what_the_generators_write() -> None:
    params = synthetic.SyntheticParams(n_train=4, n_test=4, p_dim=3, q_dim=2)
    assert set(synthetic.generate(params, 0)) == set(plan.DATA_ARRAYS["synthetic_data"])
    drawn = patch.make_patch_arrays(patch_params.PatchParams.from_mapping({"size": 3, "n_patch_only": 2}),
                                    20, 10, 10, (1, 8, 8), 0)
    assert set(drawn) == set(plan.DATA_ARRAYS["patch_data"])
    written = {"train_x", "train_y", "test_x", "test_y"}  # images.build, plus the loader's extra arrays
    assert written == set(plan.DATA_ARRAYS["image_data"])
    split = images.DATASETS["mnist5k"].load(None, images.resolve_params(images.DATASETS["mnist5k"], {}))
    assert set(split.extra_arrays) == set(images.DATASETS["mnist5k"].extra_arrays) == {"train_index", "test_index"}
