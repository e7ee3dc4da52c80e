"""The kinds of study, one record each: what the workflow and the training step need to know of a kind.

A campaign's studies have free names (``studies: {<name>: {kind: ...}}``);
their kind selects one :class:`StudyKind`. Adding a kind means adding one
record here, its schema definition (``$defs/<kind>_study`` with
``kind: {const: <kind>}``, a branch of ``$defs/study``, and the name in the
``kind`` enums of ``$defs/study`` and ``$defs/run_config``: a test checks
that they list :data:`KINDS`), its default claims
(``$defs/default_claims/<kind>``) and its code. The workflow and the
planner read the record, never the kind's name: which data rule a run
reads, whether it draws a patch per seed.

Kinds (``docs/paper-notes.md``):

* ``synthetic``: the two-pattern distribution and two-layer network
  ("Two-pattern distribution"); one dataset per seed.
* ``image``: Figure 1, clean images ("Image experiments").
* ``patch``: the patch experiment ("Patch experiment"): images plus one
  patch draw per run seed.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StudyKind:
    """One kind of study.

    Attributes:
        name: the kind, as a study's ``kind`` key says it.
        data_rule: the workflow rule whose dataset a run reads
            (``synthetic_data``: one per study and seed; ``image_data``: one
            per dataset of the registry).
        per_seed_patch: whether each run seed also reads its own patch draw
            (the ``patch_data`` rule; ``train --patch``).
        eval_sets: the evaluation sets a run reports (``metrics.csv``
            ``eval_set``), in order.
        figure_sets: the panels of the study's accuracy figure.
        reliance_sets: the pattern-reliance sets among ``eval_sets`` (the
            patterns taken apart: ``lrorder.study_data``), the panels of the
            study's reliance figure; empty for a kind without them.
        priority: the training jobs' scheduling priority: longest runs first
            (measured per run of the default study on 2 cores: patch about
            60 s, image about 36 s, synthetic about 12 s). Snakemake's
            ``priority`` only orders ready jobs; results do not depend on it.
        train_modules: package modules (relative to the package folder)
            that decide a run of this kind beyond the training loop's own.
        training_schema: JSON pointer to the kind's ``training`` settings in
            the config schema (their defaults, and the keys a run config's
            ``training`` must hold: ``lrorder.train``).

    The default claims of a kind are ``$defs/default_claims/<name>`` of the
    config schema (``lrorder.plan.default_claims``).
    """

    name: str
    data_rule: str
    per_seed_patch: bool
    eval_sets: tuple[str, ...]
    figure_sets: tuple[str, ...]
    reliance_sets: tuple[str, ...]
    priority: int
    train_modules: tuple[str, ...]
    training_schema: str


_SYNTHETIC_SETS = ("test", "test_p_only", "test_q_only", "test_both")
_SYNTHETIC_RELIANCE = ("train_both_p_alone", "train_both_q_alone", "test_both_p_alone", "test_both_q_alone")
_PATCH_SETS = ("test_clean", "test_patched", "patch_only")
_PATCH_RELIANCE = ("train_patch_removed", "train_other_patch")

KINDS: dict[str, StudyKind] = {
    "synthetic": StudyKind(
        name="synthetic", data_rule="synthetic_data", per_seed_patch=False,
        eval_sets=(*_SYNTHETIC_SETS, *_SYNTHETIC_RELIANCE), figure_sets=_SYNTHETIC_SETS,
        reliance_sets=_SYNTHETIC_RELIANCE, priority=0,
        train_modules=("data/synthetic.py",),
        training_schema="#/$defs/synthetic_study/properties/training",
    ),
    "image": StudyKind(
        name="image", data_rule="image_data", per_seed_patch=False,
        eval_sets=("test",), figure_sets=("train", "test"), reliance_sets=(), priority=1,
        train_modules=("data/pipeline.py", "data/image_dataset.py"),
        training_schema="#/$defs/image_training",
    ),
    "patch": StudyKind(
        name="patch", data_rule="image_data", per_seed_patch=True,
        eval_sets=(*_PATCH_SETS, *_PATCH_RELIANCE), figure_sets=_PATCH_SETS, reliance_sets=_PATCH_RELIANCE,
        priority=2,
        train_modules=("data/pipeline.py", "data/image_dataset.py", "data/patch.py", "data/patch_params.py",
                       "data/patch_batches.py"),
        training_schema="#/$defs/image_training",
    ),
}
