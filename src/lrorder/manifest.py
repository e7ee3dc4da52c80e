"""Manifests: the sha256 of every file of a dataset, and of a campaign's results.

A dataset is a folder of ``.npy`` array files plus ``manifest.json``::

    {"generator": "lrorder.data.synthetic", "generator_version": "1",
     "params": {...}, "seed": 0,
     "files": {"train_x.npy": "<sha256>", ...}}

Writers call :func:`save_dataset`; readers call :func:`load_dataset`, which
verifies every checksum before returning the arrays (``docs/conventions.md``,
"Artifacts and provenance").

A campaign's results manifest, ``results/<tag>/manifest.json``, written by
the workflow's last step (:func:`save_results_manifest`)::

    {"kind": "results", "files": {"runs/synthetic/large_lr/seed0/model.pt": "<sha256>", ...}}

In both, a file's path is relative to the manifest's folder.
:func:`check_files` lists the files that are missing or whose checksum
differs (``python -m lrorder.verify`` reports them).

Usage (the workflow's ``results_manifest`` rule)::

    python -m lrorder.manifest --out results/<tag>/manifest.json FILE [FILE ...]
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterator, Mapping, NamedTuple, Sequence

import numpy as np

from lrorder import cli, fileio
from lrorder.errors import DataError

MANIFEST = "manifest.json"


def save_dataset(
    directory: str | os.PathLike,
    arrays: Mapping[str, np.ndarray],
    *,
    generator: str,
    generator_version: str,
    params: Mapping[str, Any],
    seed: int,
) -> dict[str, Any]:
    """Write each array to ``<directory>/<name>.npy`` and then the manifest.

    Every file is written atomically and the manifest last, so a folder whose
    manifest exists is complete. Returns the manifest as written.
    """
    directory = Path(directory)
    files: dict[str, str] = {}
    for name, array in arrays.items():
        filename = f"{name}.npy"
        with fileio.atomic_path(directory / filename) as tmp:
            with open(tmp, "wb") as fh:
                np.save(fh, np.asarray(array, order="C"), allow_pickle=False)  # ascontiguousarray made 0-d arrays 1-d
        files[filename] = fileio.sha256_file(directory / filename)
    manifest = {
        "generator": generator,
        "generator_version": generator_version,
        "params": dict(params),
        "seed": int(seed),
        "files": files,
    }
    fileio.write_json(directory / MANIFEST, manifest)
    return manifest


def read_manifest(directory: str | os.PathLike) -> dict[str, Any]:
    """Read ``<directory>/manifest.json``.

    Raises:
        DataError: the manifest is missing or is not valid JSON.
    """
    path = Path(directory) / MANIFEST
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise DataError(f"{path}: manifest not found (regenerate the dataset)") from None
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: manifest is not valid JSON ({exc.msg})") from None


def load_dataset(directory: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Verify every array file against the manifest, then load the arrays.

    Returns:
        ``(arrays, manifest)``; ``arrays`` maps the name without ``.npy`` to
        the array as saved (dtype and shape unchanged).

    Raises:
        DataError: the manifest or a file is missing, or a file's sha256
            differs from the manifest (the message names the file and both
            checksums).
    """
    directory = Path(directory)
    manifest = read_manifest(directory)
    for problem in check_files(directory, manifest["files"]):
        if problem.actual is None:
            raise DataError(f"{problem.path}: listed in the manifest but missing")
        raise DataError(
            f"{problem.path}: sha256 {problem.actual} does not match the manifest's {problem.expected} "
            "(file changed or corrupted; regenerate the dataset)"
        )
    arrays = {
        filename.removesuffix(".npy"): np.load(directory / filename, allow_pickle=False)
        for filename in manifest["files"]
    }
    return arrays, manifest


class FileProblem(NamedTuple):
    """A file listed in a manifest that is missing (``actual`` None) or whose sha256 differs."""

    path: Path
    expected: str
    actual: str | None


def check_files(directory: str | os.PathLike, files: Mapping[str, str]) -> Iterator[FileProblem]:
    """Yield each file of ``files`` (path relative to ``directory`` -> sha256) that is missing or differs."""
    for name, expected in files.items():
        path = Path(directory) / name
        if not path.is_file():
            yield FileProblem(path, expected, None)
            continue
        actual = fileio.sha256_file(path)
        if actual != expected:
            yield FileProblem(path, expected, actual)


#: Key of a training run's ``run.json`` holding the sha256 of the outputs its job wrote
#: (``metrics.csv``, ``model.pt``; paths relative to the run's folder).
RUN_OUTPUTS_KEY = "outputs_sha256"


def run_output_problems(run_json: str | os.PathLike) -> list[FileProblem]:
    """The outputs of a training run that differ from the sha256 its job recorded in ``run_json``.

    A run written before the job recorded them (no :data:`RUN_OUTPUTS_KEY`) has nothing to check.

    Raises:
        DataError: ``run_json`` is not a JSON object, or its record is not a mapping of names to sha256.
    """
    try:
        info = json.loads(Path(run_json).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{run_json}: not readable as JSON ({exc})") from None
    recorded = info.get(RUN_OUTPUTS_KEY) if isinstance(info, dict) else None
    if recorded is None:
        return []
    if not isinstance(recorded, dict) or not all(isinstance(v, str) for v in recorded.values()):
        raise DataError(f"{run_json}: {RUN_OUTPUTS_KEY}: expected a mapping of file names to sha256")
    return list(check_files(Path(run_json).parent, recorded))


def run_output_error(problem: FileProblem, run_json: str | os.PathLike) -> str:
    """The one-line error for a run output that differs from (or lacks) the sha256 recorded in ``run_json``."""
    if problem.actual is None:
        return f"{problem.path}: not found (recorded by its training job in {run_json})"
    return (f"{problem.path}: sha256 {problem.actual} differs from {problem.expected}, recorded by its training job "
            f"in {run_json} (changed after the job wrote it); delete it and rerun snakemake to rebuild it")


def save_results_manifest(path: str | os.PathLike, files: Sequence[str | os.PathLike]) -> dict[str, Any]:
    """Write the sha256 of every file of ``files`` to the results manifest ``path`` (atomically).

    Paths are recorded relative to the manifest's folder, sorted. Returns the
    manifest as written. The outputs of every training run among ``files``
    (each ``run.json``) are first checked against the sha256 its job recorded
    (:func:`run_output_problems`), so that a file damaged after its job wrote
    it is never blessed into the manifest.

    Raises:
        DataError: a file lies outside the manifest's folder, or is missing, or
            a run's output differs from the sha256 its job recorded.
    """
    root = Path(path).parent
    for file in files:
        if Path(file).name == "run.json" and Path(file).is_file():
            for problem in run_output_problems(file):
                raise DataError(run_output_error(problem, file))
    checksums: dict[str, str] = {}
    for file in files:
        relative = Path(os.path.relpath(file, root))
        if relative.parts[:1] == ("..",):
            raise DataError(f"{file}: outside {root} (a results manifest lists files of its campaign only)")
        if not Path(file).is_file():
            raise DataError(f"{file}: not found (cannot record its checksum)")
        checksums[relative.as_posix()] = fileio.sha256_file(file)
    manifest = {"kind": "results", "files": dict(sorted(checksums.items()))}
    fileio.write_json(path, manifest)
    return manifest


def main(argv: Sequence[str] | None = None) -> None:
    parser = cli.ArgumentParser(
        prog="python -m lrorder.manifest", description="Write a campaign's results manifest (sha256 of every file)."
    )
    parser.add_argument("--out", required=True, help="results/<tag>/manifest.json")
    parser.add_argument("files", nargs="+", help="result files of the campaign (under the manifest's folder)")
    args = parser.parse_args(argv)
    manifest = save_results_manifest(args.out, args.files)
    print(f"{args.out}: sha256 of {len(manifest['files'])} files")


if __name__ == "__main__":
    cli.run(main)
