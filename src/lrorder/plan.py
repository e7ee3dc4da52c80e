"""Plain-Python helpers of the Snakemake workflow: config checks, run configs, claim specs.

``workflow/rules/common.smk`` imports these; the tests import them without
running Snakemake. Nothing here reads Snakemake globals: every function takes
the (schema-validated, defaults-filled) config as an argument.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import math
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml
from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError, best_match
from snakemake.exceptions import WorkflowError
from snakemake.utils import update_config, validate

from lrorder import schedules, sweeps, yaml_files
from lrorder.windows import map_window, resolve_window
from lrorder.data import images
from lrorder.data import patch as patch_arrays
from lrorder.data.patch_params import PatchParams
from lrorder.data.synthetic import SyntheticParams
from lrorder.errors import ConfigError
from lrorder.params import check_finite, schema_number_hint
from lrorder.schema import SCHEMA_PATH, StrictValidator, defaults_at, job_resource_keys, load_schema, schema_error_line
from lrorder.study_kinds import KINDS, StudyKind



#: Model config keys that belong to each model name (the others are dropped
#: from a run's config, so that they cannot trigger a rerun).
MODEL_KEYS = {
    "two_layer": ("name", "width", "activation", "negative_slope", "noise_shared_over_batch"),
    "small_cnn": ("name", "widths"),
    "wide_resnet": ("name", "depth", "widen_factor"),
}

#: Package modules whose code decides each step's outputs, relative to the
#: package folder. They are inputs of the step's rule, so editing one reruns
#: exactly the jobs whose results it can change (plumbing such as the CLI and
#: file helpers is left out on purpose).
STEP_MODULES = {
    "synthetic_data": ["data/synthetic.py", "seeding.py"],
    "fetch_dataset": ["data/fetch.py", "data/images.py", "data/image_dataset.py", "data/mnist5k.py"],
    "image_data": ["data/images.py", "data/image_dataset.py", "data/mnist5k.py", "data/fetch.py", "schema.py",
                   "seeding.py"],
    "patch_data": ["data/patch.py", "data/patch_params.py", "data/image_dataset.py", "seeding.py"],
    "train": ["train.py", "cpu_kernels.py", "study_data.py", "metric_rows.py", "columns.py", "models/__init__.py",
              "models/noise.py", "schedules.py", "seeding.py", "sgd.py"],
    "aggregate": ["aggregate.py", "columns.py", "stats.py"],
    "claims": ["claims.py", "aggregate.py", "columns.py", "stats.py"],
    "figures": ["figures.py", "aggregate.py", "columns.py", "stats.py"],
    "maps": ["maps.py", "windows.py", "sweeps.py", "schedules.py", "claims.py", "figures.py", "aggregate.py", "columns.py",
             "stats.py"],
    "patch_examples": ["figures.py", "aggregate.py", "columns.py", "stats.py", "data/patch.py", "data/patch_params.py",
                       "data/patch_batches.py", "data/pipeline.py", "data/image_dataset.py", "seeding.py"],
    "provenance": ["provenance.py"],
    "report_tables": ["report_tables.py"],
    "results_manifest": ["manifest.py"],
}

# curvature.py also trains (its curve command): its imports are listed, though the table reads none of them
STEP_MODULES["curvature_table"] = [*STEP_MODULES["train"], "curvature.py", "figures.py", "aggregate.py", "stats.py",
                                   "manifest.py", "models/two_layer.py"]

#: Further modules a training run depends on, by model (by kind: ``StudyKind.train_modules``).
TRAIN_MODULES_BY_MODEL = {
    "two_layer": ["models/two_layer.py"],
    "small_cnn": ["models/small_cnn.py", "models/wideresnet.py"],  # shares the official init
    "wide_resnet": ["models/wideresnet.py"],
}

#: Array files (``<name>.npy``) each data rule writes beside the dataset's
#: ``manifest.json``: the rules' declared outputs and their readers' inputs,
#: so that a changed array makes its readers stale and a removed one is made
#: again. ``image_data`` declares the arrays of every image dataset; further
#: arrays of one dataset (mnist5k's split indices: ``DatasetSpec.extra_arrays``)
#: are checked by the manifest alone (a Snakemake rule's outputs cannot depend
#: on its wildcards), as every array is by ``python -m lrorder.verify``.
DATA_ARRAYS: dict[str, tuple[str, ...]] = {
    "synthetic_data": ("train_x", "train_y", "train_pattern", "test_x", "test_y", "test_pattern", "w_star", "z", "zeta"),
    "image_data": ("train_x", "train_y", "test_x", "test_y"),
    "patch_data": tuple(patch_arrays.ARRAY_DTYPES),
}


def data_array_files(rule: str, folder: str) -> list[str]:
    """Paths of the array files of data rule ``rule`` in ``folder`` (:data:`DATA_ARRAYS`)."""
    return [f"{folder}/{name}.npy" for name in DATA_ARRAYS[rule]]


def study_kind(config: Mapping[str, Any], study: str) -> StudyKind:
    """The :class:`~lrorder.study_kinds.StudyKind` of ``studies.<study>`` (its ``kind`` key)."""
    return KINDS[config["studies"][study]["kind"]]


def studies_reading(config: Mapping[str, Any], data_rule: str) -> list[str]:
    """Names of the studies whose kind reads the datasets of ``data_rule`` (``StudyKind.data_rule``), in config order."""
    return [study for study in config["studies"] if study_kind(config, study).data_rule == data_rule]


def patch_studies(config: Mapping[str, Any]) -> list[str]:
    """Names of the studies whose kind draws a patch per run seed (``StudyKind.per_seed_patch``), in config order."""
    return [study for study in config["studies"] if study_kind(config, study).per_seed_patch]


def train_priority(config: Mapping[str, Any], study: str) -> int:
    """The ``train`` rule's priority for a run of ``study`` (``StudyKind.priority``: longest runs first)."""
    return study_kind(config, study).priority


def two_step_sets(config: Mapping[str, Any], study: str) -> list[str]:
    """``<set>_two_step`` for each set of ``training.two_step_eval``: the rows train.py adds for them."""
    return [f"{name}_two_step" for name in config["studies"][study]["training"].get("two_step_eval", [])]


def absent_sets(config: Mapping[str, Any], study: str) -> list[str]:
    """The pattern sets of a synthetic study whose pattern its data never draw (``test_<pattern>``, from
    ``data.p_only`` and ``data.q_only``; e.g. ``test_q_only`` and ``test_both`` of the no-Q ablation,
    ``p_only: 1, q_only: 0``); [] for other kinds. Its runs neither score nor report them."""
    data = config["studies"][study].get("data")
    if data is None:
        return []
    both = 1 - data["p_only"] - data["q_only"]
    share = {"test_p_only": data["p_only"], "test_q_only": data["q_only"], "test_both": both,
             **{name: both for name in study_kind(config, study).reliance_sets}}
    return [name for name, p in share.items() if not p > 0]


def study_eval_sets(config: Mapping[str, Any], study: str) -> list[str]:
    """The evaluation sets a full run of the study reports: its kind's ``eval_sets`` but
    :func:`absent_sets`, then its two-step sets."""
    absent = absent_sets(config, study)
    return [*(name for name in study_kind(config, study).eval_sets if name not in absent), *two_step_sets(config, study)]


def eval_set_error(config: Mapping[str, Any], study: str, key: str, name: str) -> str:
    """The one line for ``key`` naming ``name``, which is not an evaluation set of the study (:func:`study_eval_sets`)."""
    why = ""
    if name.removesuffix("_two_step") in absent_sets(config, study):
        data = config["studies"][study]["data"]
        why = f"; its pattern has no examples: data.p_only = {data['p_only']:g}, data.q_only = {data['q_only']:g}"
    have = ["train", *study_eval_sets(config, study)]
    return f"{key}: {name!r} is not an evaluation set of the {study} study (have: {', '.join(have)}{why})"


def figure_sets(config: Mapping[str, Any], study: str) -> list[str]:
    """Panels of a study's accuracy figure: the kind's ``figure_sets`` but :func:`absent_sets`, then its
    two-step sets."""
    absent = absent_sets(config, study)
    return [*(name for name in study_kind(config, study).figure_sets if name not in absent),
            *two_step_sets(config, study)]


def reliance_sets(config: Mapping[str, Any], study: str) -> list[str]:
    """Panels of a study's pattern-reliance figure: its kind's ``reliance_sets`` but :func:`absent_sets`."""
    absent = absent_sets(config, study)
    return [name for name in study_kind(config, study).reliance_sets if name not in absent]


def train_modules(config: Mapping[str, Any], study: str) -> list[str]:
    """Package modules whose code decides the runs of ``study`` (inputs of its training jobs)."""
    model = config["studies"][study]["model"]["name"]
    extra = [*study_kind(config, study).train_modules, *TRAIN_MODULES_BY_MODEL[model]]
    return STEP_MODULES["train"] + [m for m in dict.fromkeys(extra) if m not in STEP_MODULES["train"]]


#: Folder of this package's source files (the root of the module paths above).
PACKAGE_DIR = Path(__file__).resolve().parent


def code_sha256(modules: Sequence[str], package_dir: str | os.PathLike = PACKAGE_DIR) -> str:
    """sha256 of the source of ``modules`` (paths relative to ``package_dir``).

    The modules are taken in sorted order, each as its path, its length and
    its bytes, so the digest changes with any edit of any of them and with the
    set of modules, and not with the list's order, a file's mtime or where the
    checkout lies. The workflow puts it in the ``params`` of every rule with
    code inputs: Snakemake then reruns a job whose code changed even if its
    outputs are newer than the edit (a job that ended after it, or outputs
    touched by Snakemake's clock-skew guard on a cluster).
    """
    digest = hashlib.sha256()
    for module in sorted(dict.fromkeys(modules)):
        data = (Path(package_dir) / module).read_bytes()
        digest.update(f"{module}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()


def layered_config(base: Mapping[str, Any], layers: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """``base`` with each layer deep-merged in turn, as ``snakemake --configfile`` layers them, then
    validated against the config schema with its defaults filled.

    Raises:
        ConfigError: the merged config breaks the schema (one line naming the key,
            :func:`validation_message`; the jsonschema ValidationError is its ``__cause__``).
    """
    config = copy.deepcopy(dict(base))
    for layer in layers:
        update_config(config, copy.deepcopy(dict(layer)))
    try:
        validate(config, str(SCHEMA_PATH))
    except WorkflowError as exc:
        cause = exc.__context__  # Snakemake's WorkflowError flattens the ValidationError to text
        if isinstance(cause, ValidationError):
            raise ConfigError(validation_message(cause)) from cause
        raise ConfigError(str(exc)) from None
    return config


def _read_yaml(path: str | os.PathLike, flag: str) -> dict[str, Any]:
    loaded = yaml_files.read_yaml(path, flag)
    if not isinstance(loaded, dict):
        raise ConfigError(f"{flag} {path}: expected a YAML mapping of config keys")
    return loaded


def config_from_files(base: str | os.PathLike, layers: Sequence[str | os.PathLike], study: str) -> dict[str, Any]:
    """:func:`layered_config` of YAML files, as ``snakemake --configfile LAYER ...`` builds it over ``base``.

    For the command-line tools that re-read finished runs (``--base``, ``--configfile``, ``--study``).

    Raises:
        ConfigError: one line: a file that is not a YAML mapping (naming the
            flag and file), a merged config that breaks the schema
            (``config: ...``), or ``study`` not a study of it.
    """
    loaded = [_read_yaml(path, "--configfile") for path in layers]
    try:
        config = layered_config(_read_yaml(base, "--base"), loaded)
        check_integer_types(config, SCHEMA_PATH)  # as the Snakefile does: eval_every: 5.0 is refused
    except ConfigError as err:
        raise ConfigError(f"config: {err}") from None
    if study not in config["studies"]:
        raise ConfigError(f"--study: {study!r} is not a study of the config (have: {', '.join(config['studies'])})")
    return config


def _config_arg(key: str, argv: Sequence[str]) -> str | None:
    """The text given as ``KEY=TEXT`` after ``--config`` (``-C``) in ``argv`` (the last one), or None."""
    text, in_config = None, False
    for arg in argv:
        if arg in ("--config", "-C"):
            in_config = True
        elif arg.startswith("--config="):
            in_config = True
            arg = arg[len("--config="):]
        elif arg.startswith("-"):
            in_config = False
        if in_config and arg.startswith(f"{key}="):
            text = arg[len(key) + 1:]
    return text


def _text_hint(error: ValidationError, argv: Sequence[str]) -> str:
    """Why a number or true/false stands where the schema asks for text, and what works instead."""
    path = list(error.absolute_path)
    typed = _config_arg(str(path[0]), argv) if len(path) == 1 else None
    if typed is not None:
        return (f" (--config {path[0]}={typed} was read as {error.instance!r}: Snakemake's --config turns a "
                f"value that reads as a number or True/False into one, quoted or not; a --configfile layer "
                f"with {path[-1]}: \"{typed}\" works)")
    return (f" (read as {error.instance!r}, not text: YAML reads e.g. 2024_06_01 as the number 20240601 "
            f"and --config turns such values into numbers; quote it in a --configfile layer: "
            f"{path[-1] if path else 'key'}: \"...\")")


def validation_message(error: ValidationError, argv: Sequence[str] = ()) -> str:
    """One line naming the dotted config key and what is expected.

    A number (or true/false) where the schema asks for text gets a hint
    naming what was typed after ``--config`` in ``argv`` if it can be found
    there (Snakemake's ``--config`` makes ``tag=2024_06_01`` the integer
    20240601), and the ``--configfile`` spelling that works; a text that
    reads as a number where the schema asks for one gets the YAML spelling
    of that number (``1e-1`` is text in YAML 1.1: write ``1.0e-1``).
    """
    key = ".".join(str(part) for part in error.absolute_path) or "<top level>"
    hint = schema_number_hint(error)
    if error.validator == "type" and "string" in ([error.validator_value] if isinstance(error.validator_value, str)
                                                  else list(error.validator_value)):
        if isinstance(error.instance, (bool, int, float)):
            hint = _text_hint(error, argv)
    return f"{key}: {error.message}{hint}"


def _strict_integer(checker: Any, instance: Any) -> bool:
    return isinstance(instance, int) and not isinstance(instance, bool)


#: JSON Schema validator for which 16.0 is not an integer (JSON Schema's own
#: rule accepts it, and torch does not).
_StrictValidator = validators.extend(
    Draft202012Validator,
    type_checker=Draft202012Validator.TYPE_CHECKER.redefine("integer", _strict_integer),
)


def check_integer_types(config: Mapping[str, Any], schema_path: str | os.PathLike) -> None:
    """Reject integral floats (``width: 16.0``, ``seeds: [0.0]``) where the schema asks for integers.

    Raises:
        ConfigError: naming the dotted key.
    """
    schema = yaml.safe_load(Path(schema_path).read_text())
    error = next(iter(_StrictValidator(schema).iter_errors(config)), None)
    if error is not None:
        raise ConfigError(validation_message(error))


_INT_FOR_NUMBER = "an integer where the schema asks for a number"


def _mark_int_for_number(validator: Any, types: Any, instance: Any, schema: Any) -> Any:
    types = [types] if isinstance(types, str) else types
    if "number" in types and "integer" not in types and isinstance(instance, int) and not isinstance(instance, bool):
        yield ValidationError(_INT_FOR_NUMBER)


#: A validator whose only ``type`` errors mark integers at number-typed places.
_IntForNumberFinder = validators.extend(Draft202012Validator, validators={"type": _mark_int_for_number})


def canonical_numbers(value: Any, schema: Mapping[str, Any]) -> Any:
    """A copy of ``value`` with one spelling per number: every integer where ``schema`` says ``type: number`` is made a float.

    YAML reads ``0`` as an integer and ``0.0`` as a float; both pass a
    ``number`` type, but their JSON differs (a params change, so a rerun).
    Integer-typed values are integers already (:func:`check_integer_types`
    rejects ``16.0``). Driven by the schema (``$ref``, ``additionalProperties``,
    ``items`` followed), so a key added to it needs no code. ``value`` must
    already be valid against ``schema``.
    """
    out = copy.deepcopy(value)
    for error in _IntForNumberFinder(schema).iter_errors(value):
        if error.message != _INT_FOR_NUMBER:
            continue
        path = list(error.absolute_path)
        if not path:
            return float(out)
        node = out
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = float(node[path[-1]])
    return out


#: Results of the planner's pure functions that the workflow asks once per job, by function and the
#: ``repr`` of the arguments (which keeps key order and tells 0 from 0.0): :func:`_memoized`.
_MEMO: dict[tuple[str, str], Any] = {}


def _memoized(fn: Any, fresh: bool = True) -> Any:
    """``fn`` (a pure function of its arguments) with its results kept, returned as fresh copies
    (``fresh=False``: the kept object itself, for private lookups that never change it).

    Planning a map of thousands of runs asks for the canonical config, the
    claim specs and the cells once per job; computed afresh, planning time
    grows with the square of the number of runs (``bench/map_dag_scaling.py``).
    """

    @functools.wraps(fn)
    def kept(*args: Any) -> Any:
        key = (fn.__name__, repr(args))
        if key not in _MEMO:
            if len(_MEMO) >= 64:
                _MEMO.clear()
            _MEMO[key] = fn(*args)
        return copy.deepcopy(_MEMO[key]) if fresh else _MEMO[key]

    return kept


def canonical_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """:func:`canonical_numbers` of a (validated) config against the config schema; a fresh copy."""
    return copy.deepcopy(_canonical(config))


@functools.partial(_memoized, fresh=False)
def _canonical(config: Mapping[str, Any]) -> dict[str, Any]:
    """:func:`canonical_config` itself, kept: for the planner's reads, which never change it."""
    return canonical_numbers(config, load_schema())


def _schedule(config: Mapping[str, Any], study: str, name: str, part: str) -> schedules.Schedule:
    cfg = sweeps.declaration(study, config["studies"][study], name)[part]
    return schedules.from_config(cfg, f"studies.{study}.schedules.{name}.{part}")


def image_split_sizes(config: Mapping[str, Any], study: str) -> tuple[int, int]:
    """``(n_train, n_test)`` of an image study's dataset, as ``lrorder.data.images build`` will split it.

    Raises:
        ConfigError: ``studies.<study>.dataset.test_fraction`` leaves a class
            with an empty train or test part.
    """
    dataset = config["studies"][study]["dataset"]
    spec = images.DATASETS[dataset["name"]]
    if spec.class_sizes is None:
        return spec.n_train, spec.n_test
    fraction = dataset["test_fraction"]
    n_test = [int(round(fraction * n)) for n in spec.class_sizes]  # as mnist5k.stratified_split
    for n, k in zip(spec.class_sizes, n_test):
        if k in (0, n):
            raise ConfigError(
                f"studies.{study}.dataset.test_fraction: {fraction} leaves a class of {n} images of "
                f"{dataset['name']} with an empty train or test part (expected {0.5 / n} < test_fraction < "
                f"{1 - 0.5 / n})"
            )
    return sum(spec.class_sizes) - sum(n_test), sum(n_test)


def _at_most(key: str, value: int, limit: int, what: str) -> None:
    if value > limit:
        raise ConfigError(f"{key}: {value} {what} (expected <= {limit})")


def check_dataset_limits(config: Mapping[str, Any]) -> None:
    """Values that depend on the size or shape of a study's data, checked before any job runs.

    - ``training.batch_size`` at most the number of training examples (a
      larger batch would silently train full-batch): ``data.n_train`` of the
      synthetic study, the training split of an image dataset
      (:func:`image_split_sizes`);
    - ``training.bn_recalibration_examples`` (when ``bn_eval`` is
      ``recalibrated``) at most the training split;
    - ``dataset.test_fraction`` of mnist5k leaves every class a train and a
      test part;
    - ``patch.size`` at most the image side;
    - a ``small_cnn`` has at most as many stages (``model.widths``) as the
      2x2 max-pools between them leave a pixel of the image.

    Raises:
        ConfigError: naming the full key, the value and the limit.
    """
    for study, study_cfg in config["studies"].items():
        training = study_cfg["training"]
        if KINDS[study_cfg["kind"]].data_rule == "synthetic_data":
            n_train = study_cfg["data"]["n_train"]
            _at_most(f"studies.{study}.training.batch_size", training["batch_size"], n_train,
                     f"exceeds the {n_train} training examples of studies.{study}.data.n_train")
            continue
        name = study_cfg["dataset"]["name"]
        h, w, _ = images.DATASETS[name].image_shape
        n_train, _ = image_split_sizes(config, study)
        _at_most(f"studies.{study}.training.batch_size", training["batch_size"], n_train,
                 f"exceeds the {n_train} training images of {name}")
        if training["bn_eval"] == "recalibrated":
            _at_most(f"studies.{study}.training.bn_recalibration_examples", training["bn_recalibration_examples"],
                     n_train, f"exceeds the {n_train} training images of {name}")
        if "patch" in study_cfg:
            _at_most(f"studies.{study}.patch.size", study_cfg["patch"]["size"], min(h, w),
                     f"does not fit the {h}x{w} images of {name}")
        model = study_cfg["model"]
        if model["name"] == "small_cnn":
            stages = min(h, w).bit_length()  # side // 2**(stages - 1) >= 1
            _at_most(f"studies.{study}.model.widths", len(model["widths"]), stages,
                     f"stages (a 2x2 max-pool between two) do not fit the {h}x{w} images of {name}")


#: The one study name a campaign cannot use: results/<tag>/data/images/ holds the image datasets.
RESERVED_STUDY_NAME = "images"


def check_config(config: Mapping[str, Any]) -> None:
    """Checks beyond the JSON Schema: finite numbers, schedule forms and lengths,
    milestones within the training epochs, roles naming distinct defined
    schedules, values that depend on the data's size or shape
    (:func:`check_dataset_limits`), and every study's claims
    (:func:`claim_specs`).

    Raises:
        ConfigError: naming the dotted key and what is expected.
    """
    check_finite(config)
    _check_study_names(config)
    for study, study_cfg in config["studies"].items():
        names = list(study_cfg["schedules"])
        epochs = study_cfg["training"]["epochs"]
        for name in sweeps.schedule_names(study, study_cfg):
            for part in schedules.PARTS:
                sched = _schedule(config, study, name, part)
                key = f"studies.{study}.schedules.{name}.{part}"
                sched.check_epochs(epochs, key, f"studies.{study}.training.epochs")
                schedules.check_values(sched, epochs, key, positive=part == "lr")
        _check_roles(study, study_cfg["roles"], names)
        for name in study_cfg["training"].get("two_step_eval", []):
            if name in absent_sets(config, study):
                raise ConfigError(f"studies.{study}.training.two_step_eval: {name} has no examples (data.p_only = "
                                  f"{study_cfg['data']['p_only']:g}, data.q_only = {study_cfg['data']['q_only']:g}); "
                                  f"remove it")
        model = study_cfg["model"]
        if model.get("split") and model["width"] % 2:
            raise ConfigError(f"studies.{study}.model.width: must be even when model.split is true")
        if model["name"] == "wide_resnet" and (model["depth"] - 4) % 6:
            raise ConfigError(f"studies.{study}.model.depth: expected 6n + 4 (e.g. 16, 22, 28), got {model['depth']}")
        if "data" in study_cfg:
            _construct(SyntheticParams, study_cfg["data"], f"studies.{study}.data")
        if "patch" in study_cfg:
            _construct(PatchParams, study_cfg["patch"], f"studies.{study}.patch")
    _check_shared_datasets(config)
    check_dataset_limits(config)
    for study in config["studies"]:
        claim_specs(config, study)
        _check_pre_anneal_seeds(config, study)
    for study in map_studies(config):
        _check_maps(config, study)
    for study in config["studies"]:
        curvature_schedules(config, study)


def _check_study_names(config: Mapping[str, Any]) -> None:
    """No study is named ``images`` (the image datasets' folder), and no two study names, nor two schedule
    names of a study, differ only in case.

    Study and schedule names become file and folder names
    (``results/<tag>/claims/<study>.csv``, ``results/<tag>/<study>/<schedule>/``);
    on a case-insensitive file system (macOS, Windows) ``Clean`` and ``clean``
    would write the same files.

    Raises:
        ConfigError: naming the second of the two keys.
    """
    for study in config["studies"]:
        if study.casefold() == RESERVED_STUDY_NAME:
            raise ConfigError(f"studies.{study}: this study name is taken by the image datasets' folder "
                              f"(results/<tag>/data/{RESERVED_STUDY_NAME}/; in any case, for case-insensitive file "
                              f"systems); pick another")
    _check_case_distinct("studies", config["studies"])
    for study, study_cfg in config["studies"].items():
        _check_case_distinct(f"studies.{study}.schedules", study_cfg["schedules"])


def _check_case_distinct(key: str, names: Sequence[str]) -> None:
    """No two of ``names`` (keys under ``key``) differ only in case."""
    seen: dict[str, str] = {}
    for name in names:
        first = seen.setdefault(name.casefold(), name)
        if first != name:
            raise ConfigError(f"{key}.{name}: differs from {key}.{first} only in case; the two would share files "
                              f"on a case-insensitive file system; pick another name")


def _check_pre_anneal_seeds(config: Mapping[str, Any], study: str) -> None:
    """``pre_anneal_seeds`` are disjoint from ``seeds``, and some claim reads them before an anneal at epoch >= 2."""
    extra = pre_anneal_seeds(config, study)
    if not extra:
        return
    key = f"studies.{study}.pre_anneal_seeds"
    both = [seed for seed in extra if seed in config["studies"][study]["seeds"]]
    if both:
        raise ConfigError(f"{key}: seed {both[0]} is also in studies.{study}.seeds; expected disjoint lists")
    anneal = anneal_epoch(config, study)
    if anneal is None or anneal < 2:
        large = config["studies"][study]["roles"]["large"]
        when = "never anneals" if anneal is None else "anneals at epoch 1"
        raise ConfigError(f"{key}: schedule {large!r} (roles.large) {when}, so no run can stop before its first "
                          f"anneal; set it to []")
    if not pre_anneal_schedules(config, study):
        raise ConfigError(f"{key}: no claim of the study has a window ending before the first anneal (epoch "
                          f"{anneal}), so none would read these seeds; set it to []")


def _check_roles(study: str, roles: Mapping[str, Any], names: list[str]) -> None:
    """Each role names a defined schedule, and no two roles the same one."""
    seen: dict[str, str] = {}
    for role in ROLES:
        name = roles.get(role)
        if name is None:
            continue
        if name not in names:
            raise ConfigError(f"studies.{study}.roles.{role}: unknown schedule {name!r} (defined: {', '.join(names)})")
        if name in seen:
            raise ConfigError(f"studies.{study}.roles.{role}: must differ from roles.{seen[name]} ({name!r})")
        seen[name] = role


def _construct(cls: type, values: Mapping[str, Any], key: str) -> None:
    """Run the parameter class's own checks; their messages name the field, prefixed with ``key``'s study."""
    try:
        cls(**values)
    except ConfigError as exc:
        raise ConfigError(f"studies.{key.split('.')[1]}.{exc}") from None


def _check_shared_datasets(config: Mapping[str, Any]) -> None:
    """Split settings apply only to a dataset that takes them, and studies sharing a dataset share its split.

    A dataset with an official train/test split (``DatasetSpec.split_params``
    empty, e.g. cifar10) takes none: a ``test_fraction`` or ``split_seed``
    other than the schema's default there would be silently ignored, so it is
    refused. Image studies naming the same dataset share its artifact
    (``results/<tag>/data/images/<name>``), so their split settings must agree;
    the keys a dataset does not take are not compared.

    Raises:
        ConfigError: naming ``studies.<study>.dataset.<key>``.
    """
    defaults = defaults_at(images.SCHEMA_DEFINITION)
    seen: dict[str, tuple[str, dict[str, Any]]] = {}
    for study, study_cfg in config["studies"].items():
        if "dataset" not in study_cfg:
            continue
        dataset = study_cfg["dataset"]
        spec = images.DATASETS[dataset["name"]]
        for key, value in dataset.items():
            if key != "name" and key not in spec.split_params and value != defaults.get(key):
                takes = [name for name, other in images.DATASETS.items() if key in other.split_params]
                raise ConfigError(
                    f"studies.{study}.dataset.{key}: {dataset['name']} has an official train/test split and takes "
                    f"no {key} (it applies to {', '.join(takes)}); remove the key"
                )
        split = {key: dataset[key] for key in spec.split_params}
        first = seen.setdefault(dataset["name"], (study, split))
        if first[1] != split:
            raise ConfigError(
                f"studies.{study}.dataset: split settings {split} differ from studies.{first[0]}.dataset's "
                f"{first[1]} for the same dataset {dataset['name']!r}; use the same split settings"
            )


def data_params(config: Mapping[str, Any], study: str) -> dict[str, Any]:
    """Parameters of the synthetic study's generator (``SyntheticParams`` fields), numbers canonical."""
    return canonical_config(config)["studies"][study]["data"]


def image_dataset(config: Mapping[str, Any], study: str) -> dict[str, Any]:
    """The image dataset entry of an image study (``name`` plus its split settings), numbers canonical."""
    return canonical_config(config)["studies"][study]["dataset"]


def image_split_params(config: Mapping[str, Any], study: str) -> dict[str, Any]:
    """Split settings passed to ``lrorder.data.images build --params``: the dataset's ``split_params`` (none for an official split)."""
    dataset = image_dataset(config, study)
    return {key: dataset[key] for key in images.DATASETS[dataset["name"]].split_params}


def patch_params(config: Mapping[str, Any], study: str) -> dict[str, Any]:
    """``PatchParams`` fields of the patch study (the patch draw itself follows each run's seed), numbers canonical."""
    return canonical_config(config)["studies"][study]["patch"]


def pre_anneal_seeds(config: Mapping[str, Any], study: str) -> list[int]:
    """``studies.<study>.pre_anneal_seeds``: seeds whose runs stop before the first anneal ([] if unset)."""
    return [int(seed) for seed in config["studies"][study].get("pre_anneal_seeds") or []]


def pre_anneal_schedules(config: Mapping[str, Any], study: str) -> list[str]:
    """Schedules that the pre-anneal seeds train: those read by a claim whose window ends before the first anneal.

    Returns:
        Schedule names in the study's order; [] when the study has no
        ``pre_anneal_seeds``.
    """
    if not pre_anneal_seeds(config, study):
        return []
    read = {spec[key] for spec in pre_anneal_claims(config, study) for key in ROLE_KEYS if key in spec}
    return [name for name in config["studies"][study]["schedules"] if name in read]


def pre_anneal_claims(config: Mapping[str, Any], study: str) -> list[dict[str, Any]]:
    """The study's claim specs (:func:`claim_specs`) whose window ends before the first anneal: the claims
    that also read ``pre_anneal_seeds`` ([] when the large LR never anneals)."""
    anneal = anneal_epoch(config, study)
    return [spec for spec in claim_specs(config, study) if anneal is not None and spec["window"][1] < anneal]


def evaluation(config: Mapping[str, Any], study: str, seed: int, schedule: str | None = None) -> dict[str, dict]:
    """The scoring plan of a run of ``seed`` (of ``schedule``): each evaluation set it reports, and the epochs it scores it.

    A full run (a seed of ``seeds``) reports every evaluation set of its kind
    (the kind's ``eval_sets``, then the ``<set>_two_step`` sets of
    ``training.two_step_eval``). Every set is scored at every
    ``training.eval_every``-th epoch, at the epoch before the first anneal
    and at the last epoch (the epochs the summaries and figures read); a set
    that a claim or a map statistic reads (its ``eval_set`` or ``minus``) is
    scored, besides, at every epoch of that statistic's window. A
    pre-anneal run (:func:`pre_anneal_seeds`) reports only the sets of the
    claims that read it (:func:`pre_anneal_claims`), at the epochs of their
    windows and at its last epoch. The ``train`` row (the running mean over
    the epoch's minibatches) is recorded at every epoch either way. Training
    does not depend on any of this (:func:`lrorder.train.train`): it decides
    only what is scored, which in a synthetic run is most of the arithmetic
    and in a full image run about a fifth (``bench/scoring_cost.py``).

    Returns:
        ``{"sets": {name: [epoch, ...], ...}}``: set names as in
        ``metrics.csv`` (``train`` not listed) in the study's order, each
        with its 1-indexed epochs, ascending.
    """
    config = _canonical(config)
    study_cfg = config["studies"][study]
    anneal = anneal_epoch(config, study)
    if int(seed) in pre_anneal_seeds(config, study):
        claims = pre_anneal_claims(config, study)
        last = anneal - 1
        every = None
    else:
        claims = claim_specs(config, study)
        last = int(study_cfg["training"]["epochs"])
        every = int(study_cfg["training"]["eval_every"])
    epochs = {last, *(range(every, last + 1, every) if every else ())}
    if anneal is not None and 1 < anneal <= last + 1:
        epochs.add(anneal - 1)  # the summaries' pre-anneal accuracy (lrorder.aggregate)
    windows = [(spec[key], spec["window"]) for spec in claims for key in ("eval_set", "minus") if key in spec]
    cell = map_cell(config, study, schedule) if schedule is not None and every is not None else None
    if cell is not None:  # a sweep's cell: also the epochs its map statistics read, and the one before its anneal
        if cell["anneal"] is not None and 1 < cell["anneal"] <= last + 1:
            epochs.add(cell["anneal"] - 1)
        statistics = map_statistics(config, study)
        windows += [(statistics[name][key], window) for name, window in map_windows(config, study, cell).items()
                    for key in ("eval_set", "minus") if key in statistics[name]]
    reported = study_eval_sets(config, study)
    if every is None:
        read = {name for name, _ in windows}
        reported = [name for name in reported if name in read]
    scored = {name: set(epochs) for name in reported}
    for name, (lo, hi) in windows:
        if name in scored:  # not train, recorded at every epoch
            scored[name].update(range(lo, min(hi, last) + 1))
    return {"sets": {name: sorted(scored[name]) for name in reported}}


def study_runs(config: Mapping[str, Any], study: str) -> list[tuple[str, int]]:
    """``(schedule, seed)`` of every full-length run of a study: each schedule x ``seeds``."""
    study_cfg = config["studies"][study]
    return [(schedule, int(seed)) for schedule in sweeps.schedule_names(study, study_cfg)
            for seed in study_cfg["seeds"]]


def pre_anneal_runs(config: Mapping[str, Any], study: str) -> list[tuple[str, int]]:
    """``(schedule, seed)`` of every run that stops before the first anneal (:func:`pre_anneal_schedules` x
    ``pre_anneal_seeds``); [] for a study without pre-anneal seeds."""
    return [(schedule, seed) for schedule in pre_anneal_schedules(config, study)
            for seed in pre_anneal_seeds(config, study)]


def run_config(config: Mapping[str, Any], study: str, schedule: str, seed: int) -> dict[str, Any]:
    """The resolved config of one run: everything the training step depends on.

    A run is rerun exactly when this changes (it is the training rule's
    ``params``), so it holds only what affects the run, with one spelling
    per number (:func:`canonical_config`: ``momentum: 0`` and ``0.0`` give
    the same run config). A run of a pre-anneal seed (:func:`pre_anneal_seeds`)
    trains ``anneal - 1`` epochs (:func:`anneal_epoch`): the epochs of a
    full run before its first anneal, the same epoch for epoch.
    ``evaluation`` is what the run scores (:func:`evaluation`). The
    checkpoint cadence (:data:`TRAIN_RESOURCE_KEYS`) is left out: it is
    not part of a run's identity and travels as a job resource
    (:func:`train_resources`).
    """
    config = _canonical(config)
    study_cfg = config["studies"][study]
    declaration = sweeps.declaration(study, study_cfg, schedule)
    training = {key: copy.deepcopy(value) for key, value in study_cfg["training"].items()
                if key not in TRAIN_RESOURCE_KEYS}
    if "weight_decay" in declaration:  # the schedule's own weight decay (a sweep's weight_decay axis)
        training["weight_decay"] = declaration["weight_decay"]
    if int(seed) in pre_anneal_seeds(config, study):
        training["epochs"] = anneal_epoch(config, study) - 1
    model = {key: copy.deepcopy(value) for key, value in study_cfg["model"].items()
             if key in MODEL_KEYS[study_cfg["model"]["name"]]}
    if "split" in study_cfg["model"]:  # the two-layer network's P/Q halves
        model["split_at"] = study_cfg["data"]["p_dim"] if study_cfg["model"]["split"] else None
    return {
        "study": study,
        "kind": study_cfg["kind"],
        "schedule": schedule,
        "seed": int(seed),
        "model": model,
        "training": training,
        "evaluation": evaluation(config, study, seed, schedule),
        **{part: _schedule(config, study, schedule, part).as_dict() for part in schedules.PARTS},
    }


#: ``training`` keys that are not part of a run's identity: left out of
#: :func:`run_config` and passed to training as job resources (:func:`train_resources`);
#: the schema marks them (``x-job-resource``) in each kind's training definition.
TRAIN_RESOURCE_KEYS = tuple(dict.fromkeys(key for kind in KINDS.values()
                                          for key in job_resource_keys(kind.training_schema)))


def train_resources(config: Mapping[str, Any], study: str) -> dict[str, int]:
    """The ``resources`` of the ``train`` rule for a run of ``study``.

    ``gpu`` is 1 for a study with ``training.device: cuda``, else 0. It is
    what the local scheduler counts against ``snakemake --resources gpu=N``
    (at most N training jobs on GPUs at once) and what the SLURM executor
    turns into ``sbatch --gpus``; train.py gets it as ``--gpus`` (``auto``
    uses CUDA only with a GPU granted, so ``--set-resources train:gpu=1``
    moves ``auto`` studies onto GPUs). ``checkpoint_every`` and
    ``checkpoint_minutes`` (``training.checkpoint_*``) decide only how
    often the resumable checkpoint is written, not the run's results.

    All three travel as job resources rather than as ``params`` (or in
    :func:`run_config`) because Snakemake reruns a job whose params change
    but not one whose resources change: granting ``auto`` studies GPUs or
    taking them away, or writing checkpoints more or less often, leaves
    finished runs finished. ``training.device`` itself is part of the run
    config, so switching a study between ``cpu``, ``auto`` and ``cuda``
    reruns it. (What a run did use, its device and precision, is recorded
    in its run.json.)

    Returns:
        ``{"gpu": 0 | 1, "checkpoint_every": int, "checkpoint_minutes": int}``.
    """
    training = config["studies"][study]["training"]
    return {
        "gpu": 1 if training["device"] == "cuda" else 0,
        "checkpoint_every": int(training["checkpoint_every"]),
        "checkpoint_minutes": int(training["checkpoint_minutes"]),
    }


def anneal_epoch(config: Mapping[str, Any], study: str) -> int | None:
    """First milestone of the LR of the schedule in role ``large`` (``None`` if it never anneals)."""
    large = config["studies"][study]["roles"]["large"]
    return _schedule(config, study, large, "lr").first_milestone


# --------------------------------------------------------------------------- maps


@_memoized
def map_cells(config: Mapping[str, Any], study: str) -> list[dict[str, Any]]:
    """Every cell of the study's sweeps as the map step reads it (:meth:`lrorder.sweeps.Cell.as_dict`):
    ``{"sweep", "schedule", "axes", "anneal"}``, in :func:`lrorder.sweeps.cells` order; [] without sweeps."""
    config = canonical_config(config)
    return [cell.as_dict() for cell in sweeps.cells(study, config["studies"][study])]


def map_cell(config: Mapping[str, Any], study: str, schedule: str) -> dict[str, Any] | None:
    """The cell named ``schedule`` (:func:`map_cells`), or ``None`` for a declared schedule."""
    if schedule in config["studies"][study]["schedules"]:
        return None
    return copy.deepcopy(_cells_by_name(config, study).get(schedule))


@functools.partial(_memoized, fresh=False)
def _cells_by_name(config: Mapping[str, Any], study: str) -> dict[str, dict[str, Any]]:
    return {cell["schedule"]: cell for cell in map_cells(config, study)}


def map_studies(config: Mapping[str, Any]) -> list[str]:
    """The studies with at least one sweep cell: those that draw maps."""
    return [study for study, study_cfg in config["studies"].items() if sweeps.cells(study, study_cfg)]


def declared_schedule_names(config: Mapping[str, Any]) -> list[str]:
    """The declared schedules of every study (not the sweeps' cells), each once, in config order."""
    return list(dict.fromkeys(name for study_cfg in config["studies"].values() for name in study_cfg["schedules"]))


def cell_name_pattern(config: Mapping[str, Any]) -> str:
    """A regular expression matching the names of the sweeps' cells (:func:`lrorder.sweeps.cell_name`):
    ``(<sweep>|...)_<axes>``; one that matches nothing when no study has a sweep. A declared schedule
    never has a cell's name (:func:`lrorder.sweeps.cells` refuses it), so this and
    :func:`declared_schedule_names` split the schedules of every study in two."""
    names = list(dict.fromkeys(sweep for study_cfg in config["studies"].values()
                               for sweep in study_cfg.get("sweeps") or {}))
    return f"({'|'.join(names)})_[A-Za-z0-9_.]+" if names else "(?!)"


def map_statistics(config: Mapping[str, Any], study: str) -> dict[str, dict[str, Any]]:
    """The study's map statistics: the kind's defaults (``$defs/default_map_statistics/<kind>``) with
    ``studies.<study>.map_statistics`` merged over them as :func:`merged_claims` merges claims (field by field;
    ``null`` drops one; a new name is a full record, ``$defs/map_statistic``): name -> record.

    Raises:
        ConfigError: one line naming ``studies.<study>.map_statistics.<name>[.<key>]``: a record that fails
            ``$defs/map_statistic``, ``null`` for a name that is not a default, or an ``eval_set`` (or
            ``minus``) that is not an evaluation set the study's runs report.
    """
    config = _canonical(config)
    have = ["train", *study_eval_sets(config, study)]
    records = _merged_records(config, study, "map_statistics", "default_map_statistics", "map_statistic",
                              "map statistic")
    for name, record in records.items():
        for key in ("eval_set", "minus"):
            if key in record and record[key] not in have:
                raise ConfigError(eval_set_error(config, study, f"studies.{study}.map_statistics.{name}.{key}",
                                                 record[key]))
    return records


def map_windows(config: Mapping[str, Any], study: str, cell: Mapping[str, Any]) -> dict[str, list[int]]:
    """``{statistic name: [lo, hi]}`` of the study's map statistics defined in ``cell`` (:func:`map_window`)."""
    epochs = int(config["studies"][study]["training"]["epochs"])
    windows = {name: map_window({"name": name, **record}, cell, epochs)
               for name, record in map_statistics(config, study).items()}
    return {name: window for name, window in windows.items() if window is not None}


def curvature_schedules(config: Mapping[str, Any], study: str) -> list[str]:
    """``studies.<study>.curvature``: the schedules (declared or sweep cells) whose runs read their curvature along
    the P and Q directions (:mod:`lrorder.curvature`); [] when unset.

    Raises:
        ConfigError: one line naming ``studies.<study>.curvature``: a name that is not a schedule or a sweep cell
            of the study, or a study that is not synthetic (the curvature is the two-layer network's).
    """
    study_cfg = config["studies"][study]
    names = list(study_cfg.get("curvature") or [])
    if names and study_kind(config, study).name != "synthetic":
        raise ConfigError(f"studies.{study}.curvature: only a synthetic study's runs (the two-layer network) "
                          f"have a curvature along P and Q; this study is of kind {study_kind(config, study).name!r}")
    known = set(sweeps.schedule_names(study, _canonical(config)["studies"][study])) if names else set()
    for name in names:
        if name not in known:
            raise ConfigError(f"studies.{study}.curvature: {name!r} is not a schedule or a sweep cell of the study")
    return names


def curvature_studies(config: Mapping[str, Any]) -> list[str]:
    """The studies whose ``curvature`` lists at least one schedule."""
    return [study for study in config["studies"] if curvature_schedules(config, study)]


def curvature_modules(config: Mapping[str, Any], study: str) -> list[str]:
    """Package modules whose code decides a curvature curve of ``study``: its training's and ``curvature.py``."""
    return [*train_modules(config, study), "curvature.py"]


def _check_maps(config: Mapping[str, Any], study: str) -> None:
    """A study with sweeps has map statistics, which read evaluation sets it has, over windows every cell holds."""
    if not map_statistics(config, study):
        raise ConfigError(f"studies.{study}.map_statistics: every statistic is dropped, and the study has sweeps; "
                          f"keep or add at least one")
    for cell in map_cells(config, study):
        map_windows(config, study, cell)


def map_panels(config: Mapping[str, Any], study: str) -> list[tuple[str, str]]:
    """``(sweep, statistic)`` of every heatmap of a study: each statistic of each sweep that is defined in at least
    one of its cells (one whose window uses ``anneal`` has no value in a sweep whose cells never anneal)."""
    defined: dict[tuple[str, str], None] = {}
    for cell in map_cells(config, study):
        for name in map_windows(config, study, cell):
            defined[(cell["sweep"], name)] = None
    order = list(map_statistics(config, study))
    sweeps_order = list(dict.fromkeys(cell["sweep"] for cell in map_cells(config, study)))
    return [(sweep, name) for sweep in sweeps_order for name in order if (sweep, name) in defined]


# --------------------------------------------------------------------------- claims

#: Roles a claim's ``a``, ``b`` and ``reference`` name (``studies.<study>.roles``).
ROLES = ("large", "small", "noise")
#: Keys of a claim record that name a role.
ROLE_KEYS = ("a", "b", "reference")


def default_claims(kind: str, schema_path: str | os.PathLike = SCHEMA_PATH) -> dict[str, dict[str, Any]]:
    """The default claim records of a kind of study (``$defs/default_claims/<kind>`` of the schema), in order."""
    return load_schema(schema_path)["$defs"]["default_claims"][kind]


def _merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``over`` deep-merged into it (mappings merged key by key, anything else replaced)."""
    out = copy.deepcopy(dict(base))
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def merged_claims(config: Mapping[str, Any], study: str,
                  schema_path: str | os.PathLike = SCHEMA_PATH) -> dict[str, dict[str, Any]]:
    """A study's claim records: kind defaults, the study's ``claims`` merged over them, defaults filled.

    Each entry of ``studies.<study>.claims`` is merged field by field into
    the default claim of the same id (``$defs/default_claims/<kind>``);
    ``null`` removes the claim; a new id is taken as it is (so it must be a
    full record). Fields left unset get the claim record's schema defaults
    (``$defs/claim``), then each record is validated against it. Ids are
    strings: an unquoted YAML number (``2:``) is read as its text.

    Returns:
        Claim id -> record with role names (not schedules) and unresolved
        windows; default claims first in their order, then new ids in the
        config's order.

    Raises:
        ConfigError: one line naming ``studies.<study>.claims.<id>[.<key>]``:
            a record that fails ``$defs/claim``, two entries whose ids read
            the same, or ``null`` for an id that is not a default claim.
    """
    return _merged_records(config, study, "claims", "default_claims", "claim", "claim", schema_path)


def _merged_records(config: Mapping[str, Any], study: str, key: str, defaults_def: str, record_def: str,
                    noun: str, schema_path: str | os.PathLike = SCHEMA_PATH) -> dict[str, dict[str, Any]]:
    """``studies.<study>.<key>`` merged over the kind's ``$defs/<defaults_def>/<kind>`` (:func:`merged_claims`'s
    rule: field by field, ``null`` drops a default, a new name is a full record), each record's schema defaults
    filled, validated against ``$defs/<record_def>`` and its numbers made canonical."""
    schema = load_schema(schema_path)
    record_schema = {**schema["$defs"][record_def], "$defs": schema["$defs"]}
    kind = config["studies"][study]["kind"]
    records = copy.deepcopy(schema["$defs"][defaults_def][kind])
    defaults = list(records)
    given: dict[str, Any] = {}
    for name, entry in (config["studies"][study].get(key) or {}).items():
        if str(name) in given:
            raise ConfigError(f"studies.{study}.{key}.{name}: {noun} id given twice (as {name!r} and as text)")
        given[str(name)] = entry
    for name, entry in given.items():
        if entry is None:
            if name not in records:
                raise ConfigError(f"studies.{study}.{key}.{name}: null drops a default {noun}, but the {kind} kind "
                                  f"has none with this id (its {key}: {', '.join(records) or 'none'})")
            records.pop(name)
        else:
            records[name] = _merge(records.get(name, {}), entry)
    for name, record in records.items():
        for field, prop in record_schema["properties"].items():
            if "default" in prop:
                record.setdefault(field, copy.deepcopy(prop["default"]))
        error = best_match(StrictValidator(record_schema).iter_errors(record))
        if error is not None and name not in defaults and error.validator == "required":
            raise ConfigError(f"studies.{study}.{key}.{name}: the {kind} kind has no {noun} {name!r} (its {key}: "
                              f"{', '.join(defaults) or 'none'}), so this is a new {noun} and needs a full record: "
                              f"{error.message}")
        if error is not None:
            raise ConfigError(schema_error_line(error, f"studies.{study}.{key}.{name}", record_schema))
        records[name] = canonical_numbers(record, record_schema)
    return records


@_memoized
def claim_specs(config: Mapping[str, Any], study: str,
                schema_path: str | os.PathLike = SCHEMA_PATH) -> list[dict[str, Any]]:
    """Resolved claim specs of a study for :func:`lrorder.claims.check_claims` (``docs/paper-notes.md``, "Claims").

    The records of :func:`merged_claims` with roles replaced by the
    schedules of ``studies.<study>.roles`` and windows resolved to integer
    epochs (:func:`resolve_window`), plus ``id``, the study's
    ``verdict.alpha`` and ``verdict.min_seeds``, and ``seeds``, the run
    seeds the claim reads: ``seeds``, plus ``pre_anneal_seeds`` when the
    window ends before the first anneal. A default claim that uses
    the ``noise`` role is dropped when ``roles.noise`` is null; a claim the
    study adds must not use a null role.

    By default, synthetic: claims 5a, 5b, 4; clean (Figure 1): 1, 2; patch:
    2, 3a, 3b, 3c, 3d, 4 (``$defs/default_claims`` of the schema).

    Raises:
        ConfigError: one line naming the key: an invalid record
            (:func:`merged_claims`), an ``eval_set`` the study does not report
            (``train``, the kind's ``eval_sets``, ``<set>_two_step`` of
            ``training.two_step_eval``), a claim comparing a role with itself,
            a claim added by the study that uses a null role, or a window that
            does not resolve.
    """
    config = canonical_config(config)
    study_cfg = config["studies"][study]
    roles = study_cfg["roles"]
    verdict = study_cfg["verdict"]
    epochs = study_cfg["training"]["epochs"]
    anneal = anneal_epoch(config, study)
    extra = pre_anneal_seeds(config, study)
    eval_sets = ["train", *study_eval_sets(config, study)]
    defaults = default_claims(config["studies"][study]["kind"], schema_path)
    specs = []
    for cid, record in merged_claims(config, study, schema_path).items():
        key = f"studies.{study}.claims.{cid}"
        if record["eval_set"] not in eval_sets:
            raise ConfigError(eval_set_error(config, study, f"{key}.eval_set", record["eval_set"]))
        used = [record[k] for k in ROLE_KEYS if k in record]
        if len(set(used)) < len(used):
            raise ConfigError(f"{key}: a, b and reference must name different roles, got {', '.join(used)}")
        unset = [role for role in used if roles.get(role) is None]
        if unset and cid in defaults:
            continue  # a default claim of a role this study does not run: it does not apply
        if unset:
            raise ConfigError(f"{key}: uses role {unset[0]!r}, but studies.{study}.roles.{unset[0]} is null "
                              f"(set it to a schedule of the study, or use another role)")
        spec = {"id": cid, **record}
        for k in ROLE_KEYS:
            if k in spec:
                spec[k] = roles[spec[k]]
        spec["window"] = resolve_window(record["window"], f"{key}.window", epochs, anneal, roles["large"])
        spec["alpha"] = verdict["alpha"]
        spec["min_seeds"] = verdict["min_seeds"]
        before_anneal = anneal is not None and spec["window"][1] < anneal
        spec["seeds"] = [int(seed) for seed in study_cfg["seeds"]] + (extra if before_anneal else [])
        specs.append(spec)
    return specs
