"""Check the paper's claims from the metrics: one one-sided test per claim over seeds.

Usage::

    python -m lrorder.claims check --metrics ALL.csv [ALL.csv ...] --study NAME --spec JSON --out CLAIMS.csv \
        [--out-seeds SEEDS.csv]
    python -m lrorder.claims collect CLAIMS.csv [CLAIMS.csv ...] --out ALL_CLAIMS.csv

The claims are the paper's, numbered as in ``docs/paper-notes.md``, "Claims". What expresses a claim for a
study (evaluation set, epochs, summary of a run, contrast of schedules) is
declared in the config (``studies.<study>.claims`` over the defaults of the
study's kind in ``workflow/schemas/config.schema.yaml``) and resolved by
:func:`lrorder.plan.claim_specs` into the JSON list ``--spec`` (one object per
claim, :data:`SPEC_SCHEMA`). Every verdict is computed here from the metrics;
none is written by hand.

Per claim (:func:`check_claims`):

0. the claim reads the runs of its ``seeds`` (:func:`claim_rows`; every
   seed of the metrics when the spec names none);
1. each run's accuracy on ``eval_set`` over the epochs ``window`` becomes one
   number (:func:`run_summary`);
2. per seed, the runs of the schedules in roles ``a``, ``b``, ``reference``
   are paired (runs with the same seed share data and initialisation) and
   combined into one value by ``contrast``, oriented by ``direction``
   (:func:`per_seed_values`); a seed with a diverged run (training loss not
   finite, marked in the aggregated metrics' ``diverged`` column) in any of
   the claim's roles is dropped from the claim and counted (``n_diverged``),
   so a claim left with fewer than ``min_seeds`` seeds is "inconclusive";
3. those values get a mean, a ``1 - 2 alpha`` Student-t interval and two
   one-sided p-values, Holm-corrected over the study's claims and turned into
   a verdict (:mod:`lrorder.stats`, whose docstring states the rule).

``--out-seeds`` also writes the per-seed values of step 2 (:func:`seed_values`),
from which another campaign's claims can be compared seed by seed
(:func:`lrorder.compare.paired_differences`).
"""

from __future__ import annotations

import math
import os
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from jsonschema.exceptions import best_match
from scipy.integrate import trapezoid

from lrorder import cli, fileio, schema
from lrorder.aggregate import diverged_rows, load_runs
from lrorder.errors import ConfigError, DataError
from lrorder.fileio import atomic_path
from lrorder.params import schema_number_hint
from lrorder.schema import StrictValidator, schema_error_line
from lrorder.stats import effect_tests, holm, verdict

CLAIM_COLUMNS: tuple[str, ...] = (
    "study", "claim", "description", "statistic", "eval_set", "a", "b", "reference",
    "window_lo", "window_hi", "n_seeds", "n_censored", "n_diverged", "mean", "std", "ci_low", "ci_high",
    "estimate", "min_effect", "p_value", "p_holm", "p_below", "p_below_holm", "alpha", "verdict",
)
#: Columns of the per-seed table (:func:`seed_values`).
SEED_COLUMNS: tuple[str, ...] = ("study", "claim", "seed", "value")
SUMMARIES: tuple[str, ...] = ("mean", "median", "max", "auc", "first_passage")
CONTRASTS: tuple[str, ...] = ("difference", "level", "ratio")

#: The JSON Schema of one resolved claim spec (an element of ``--spec``):
#: ``$defs/claim_spec`` of the config schema, checked with the claim record's
#: rules between keys (``$defs/claim``'s ``allOf``; each rule's
#: ``description`` ends the error message it raises).
def _spec_schema(defs: Mapping[str, Any]) -> dict[str, Any]:
    return {**defs["claim_spec"], "allOf": defs["claim"]["allOf"], "$defs": dict(defs)}


SPEC_SCHEMA: dict[str, Any] = _spec_schema(schema.load_schema()["$defs"])



def validate_spec(spec: Any, index: int = 0) -> dict[str, Any]:
    """Check one resolved claim spec against :data:`SPEC_SCHEMA` and return it.

    Raises:
        ConfigError: one line naming the claim id (or its position in
            ``--spec``) and the key, e.g. ``claim 5b.window: ...``; also when
            ``window`` has lo > hi or two roles name the same schedule.
    """
    name = f"claim {spec['id']}" if isinstance(spec, dict) and isinstance(spec.get("id"), str) else f"--spec[{index}]"
    error = best_match(StrictValidator(SPEC_SCHEMA).iter_errors(spec))
    if error is not None:
        raise ConfigError(schema_error_line(error, name, SPEC_SCHEMA))
    lo, hi = spec["window"]
    if lo > hi:
        raise ConfigError(f"{name}.window: expected [lo, hi] with lo <= hi, got {spec['window']}")
    roles = [spec[k] for k in ("a", "b", "reference") if k in spec]
    if len(set(roles)) < len(roles):
        raise ConfigError(f"{name}: a, b and reference must name different schedules, got {', '.join(roles)}")
    return spec


def run_summary(accuracy: np.ndarray, epochs: np.ndarray, spec: Mapping[str, Any]) -> tuple[float, bool]:
    """One run's accuracy curve over the claim's window as one number.

    Args:
        accuracy: accuracies (fraction in [0, 1]) at ``epochs``.
        epochs: the window's epochs ``lo, lo + 1, ..., hi`` (1-indexed), ascending.
        spec: the claim spec (``summary``, ``window``, ``threshold``).

    Returns:
        ``(value, censored)``. ``summary``:

        - ``mean``, ``median``, ``max``: of the per-epoch accuracies (accuracy
          units); ``max`` is the peak the run reached in the window, which
          the epochs it swings down from do not lower;
        - ``auc``: trapezoidal area under accuracy vs epoch divided by
          ``hi - lo``, a time-averaged accuracy (accuracy units); for
          ``lo == hi`` the accuracy at that epoch;
        - ``first_passage``: first epoch in the window with accuracy >=
          ``threshold`` (epochs). A run that never reaches it is *censored*
          at ``hi + 1`` (``censored`` True): the value is a lower bound on the
          true passage epoch. Censoring therefore shrinks a run's value. In a
          difference ``a - b`` with ``direction: greater``, a censored run in
          ``a`` makes that seed's value too small (the test is conservative,
          biased towards "effect <= 0"), and a censored run in ``b`` makes it
          too large (anti-conservative); with ``less`` the reverse. A seed
          whose runs are all censored says nothing about a contrast of two or
          more roles, so :func:`per_seed_values` drops it (a claim left with
          fewer than ``min_seeds`` seeds is "inconclusive"). The claims table
          counts the censored runs of each claim (``n_censored``).
    """
    summary = spec["summary"]
    if summary == "mean":
        return float(np.mean(accuracy)), False
    if summary == "median":
        return float(np.median(accuracy)), False
    if summary == "max":
        return float(np.max(accuracy)), False
    lo, hi = spec["window"]
    if summary == "auc":
        if lo == hi:
            return float(accuracy[0]), False
        return float(trapezoid(accuracy, epochs)) / (hi - lo), False
    reached = np.flatnonzero(np.asarray(accuracy) >= spec["threshold"])
    if reached.size == 0:
        return float(hi + 1), True
    return float(epochs[reached[0]]), False


def _summaries(df: pd.DataFrame, spec: Mapping[str, Any], schedule: str) -> pd.DataFrame:
    """``value`` and ``censored`` of every run of ``schedule``, indexed by seed.

    Raises:
        ConfigError: a run lacks an epoch of the window.
    """
    lo, hi = spec["window"]
    runs = df[(df["schedule"] == schedule) & (df["eval_set"] == spec["eval_set"])]
    inside = runs[(runs["epoch"] >= lo) & (runs["epoch"] <= hi)].sort_values(["seed", "epoch"])
    want = np.arange(lo, hi + 1)
    rows = {}
    for seed in sorted(runs["seed"].unique()):
        curve = inside[inside["seed"] == seed]
        epochs = curve["epoch"].to_numpy()
        if not np.array_equal(epochs, want):
            last = int(runs.loc[runs["seed"] == seed, "epoch"].max())
            gap = "" if last < hi else (f"; it has no {spec['eval_set']} row at some epoch of the window: a run scores "
                                        "only the epochs of its scoring plan (training.eval_every, the claims' "
                                        "windows when it ran)")
            raise ConfigError(
                f"claim {spec['id']}: window [{lo}, {hi}] is not covered by schedule {schedule} seed {seed} "
                f"(last epoch {last}{gap})"
            )
        rows[seed] = run_summary(curve["accuracy"].to_numpy(dtype=float), epochs, spec)
    return pd.DataFrame.from_dict(rows, orient="index", columns=["value", "censored"])


def per_seed_values(df: pd.DataFrame, spec: Mapping[str, Any]) -> tuple[pd.Series, int, int, float]:
    """The oriented per-seed values of one claim, the censored and diverged runs behind them and the ratio estimate.

    Seeds are paired by an inner join over every schedule the claim uses
    (``a``, and ``b``, ``reference`` when present): a seed missing from one
    of them is dropped. A paired seed with a diverged run in any of those
    roles (:func:`lrorder.aggregate.diverged_rows`: its training loss went
    NaN or infinite and it stopped early, so its accuracy is no measurement
    of the schedule) is dropped too and counted; no summary is computed for
    it, so its window need not be covered. In a ``difference`` or ``ratio``, a seed whose runs
    are all censored (``first_passage`` never reached in any role) is dropped
    too: its contrast would be 0 whatever the truth (a ``level`` keeps it,
    since its bound ``hi + 1`` is still compared with a fixed level). With ``s(r)`` the run summary (:func:`run_summary`)
    of the schedule in role ``r`` for that seed:

    - ``difference``: ``s(a) - s(b)``; with ``scale: relative_error``,
      ``(s(a) - s(b)) / (1 - s(b))``: the fraction of b's error that a
      removes (NaN when ``s(b) == 1``, which makes the claim inconclusive);
    - ``level``: ``s(a) - level``;
    - ``ratio``: ``(s(a) - s(b)) - fraction * (s(reference) - s(b))``, the
      linear form of "a recovers at least ``fraction`` of the gap from b to
      reference": its mean is > 0 exactly when ``mean(s(a) - s(b)) /
      mean(s(reference) - s(b)) > fraction`` for a positive gap (Fieller's
      approach to a ratio of means).

    ``direction: less`` multiplies the value by -1, so that positive always
    means "in the claim's direction"; ``min_effect`` is in these units.

    Returns:
        ``(values, n_censored, n_diverged, estimate)``: values indexed by seed
        (ascending); the number of censored runs among the paired seeds
        without a diverged run, those dropped as all-censored included
        (``first_passage`` only, else 0); the number of paired seeds dropped
        for a diverged run (a seed counts once however many of its roles
        diverged); for ``ratio`` the estimate
        ``mean(s(a) - s(b)) / mean(s(reference) - s(b))`` (NaN when that gap's
        mean is 0 or no seed is paired), else NaN.
    """
    roles = [r for r in ("a", "b", "reference") if r in spec]
    diverged = diverged_rows(df)
    seeds = [set(df.loc[df["schedule"] == spec[r], "seed"]) for r in roles]
    bad = set(df.loc[diverged & df["schedule"].isin([spec[r] for r in roles]), "seed"])
    n_diverged = len(set.intersection(*seeds) & bad)
    kept = df[~diverged & ~df["seed"].isin(bad)]
    parts = {r: _summaries(kept, spec, spec[r]) for r in roles}
    paired = pd.concat({r: parts[r]["value"] for r in roles}, axis=1, join="inner").sort_index()
    censored = pd.concat({r: parts[r]["censored"] for r in roles}, axis=1, join="inner").loc[paired.index]
    n_censored = int(censored.to_numpy().sum())
    if len(roles) > 1:
        informative = ~censored.all(axis=1)
        paired, censored = paired[informative], censored[informative]
    x, estimate = contrast_values({r: paired[r].to_numpy(dtype=float) for r in roles}, spec)
    return pd.Series(x, index=paired.index, dtype=float), n_censored, n_diverged, estimate


def contrast_values(s: Mapping[str, np.ndarray], spec: Mapping[str, Any]) -> tuple[np.ndarray, float]:
    """The oriented per-seed values of a claim from its roles' run summaries (the rule of :func:`per_seed_values`).

    Args:
        s: role (``a``, ``b``, ``reference``, as the claim uses them) ->
            float64 ``(n,)`` run summaries, element ``i`` of each role from
            the same seed.
        spec: the claim spec (``contrast``, ``scale``, ``level``, ``fraction``, ``direction``).

    Returns:
        ``(values, estimate)``: float64 ``(n,)``, positive in the claim's
        direction; for ``ratio`` the estimate ``mean(s(a) - s(b)) /
        mean(s(reference) - s(b))`` (NaN when that gap's mean is 0 or ``n`` is 0), else NaN.
    """
    estimate = math.nan
    contrast = spec["contrast"]
    if contrast == "difference":
        x = s["a"] - s["b"]
        if spec["scale"] == "relative_error":
            err_b = 1.0 - s["b"]
            with np.errstate(divide="ignore", invalid="ignore"):
                x = np.where(err_b != 0, x / np.where(err_b != 0, err_b, 1.0), math.nan)
    elif contrast == "level":
        x = s["a"] - spec["level"]
    else:
        gain, gap = s["a"] - s["b"], s["reference"] - s["b"]
        x = gain - spec["fraction"] * gap
        if len(gap) and gap.mean() != 0:
            estimate = float(gain.mean() / gap.mean())
    x = np.asarray(x, dtype=float)
    return (-x if spec["direction"] == "less" else x), estimate


def statistic_text(spec: Mapping[str, Any]) -> str:
    """One line naming the per-seed statistic: summary, window, eval_set, and the oriented contrast.

    The expression is the per-seed value whose mean, spread and interval the
    claims table reports (positive in the claim's direction), always followed
    by ``> 0``: ``a - b`` (``b - a`` for direction less), its relative-error
    form, ``a - level`` / ``level - a``, or the linear ratio form
    ``(a - b) - fraction * (reference - b)``.
    """
    lo, hi = spec["window"]
    es = spec["eval_set"]
    summary = {
        "mean": f"mean {es} accuracy over epochs {lo}-{hi}",
        "median": f"median {es} accuracy over epochs {lo}-{hi}",
        "max": f"highest {es} accuracy over epochs {lo}-{hi}",
        "auc": f"area under {es} accuracy over epochs {lo}-{hi} / {hi - lo}" if hi > lo
        else f"{es} accuracy at epoch {lo}",
        "first_passage": f"first epoch in {lo}-{hi} with {es} accuracy >= {spec.get('threshold', 0):g} "
                         f"({hi + 1} if never)",
    }[spec["summary"]]
    a, b = spec["a"], spec.get("b")
    less = spec["direction"] == "less"
    if spec["contrast"] == "difference":
        first, second = (b, a) if less else (a, b)
        expr = f"{first} - {second}"
        if spec["scale"] == "relative_error":
            expr = f"({expr}) / (1 - {b})"
    elif spec["contrast"] == "level":
        expr = f"{spec['level']:g} - {a}" if less else f"{a} - {spec['level']:g}"
    else:
        expr = f"({a} - {b}) - {spec['fraction']:g} * ({spec['reference']} - {b})"
        expr = f"-[{expr}]" if less else expr
    return f"{summary}: {expr} > 0"


def _check_names(df: pd.DataFrame, spec: Mapping[str, Any], study: str) -> None:
    """Every schedule and the eval_set of the claim are in the study's metrics."""
    cid = spec["id"]
    known = set(df["schedule"])
    schedules = [spec[r] for r in ("a", "b", "reference") if r in spec]
    for s in schedules:
        if s not in known:
            raise ConfigError(f"claim {cid}: schedule {s!r} not in the metrics of study {study} "
                              f"(have: {', '.join(sorted(known))})")
    sets = set(df["eval_set"])
    if spec["eval_set"] not in sets:
        raise ConfigError(f"claim {cid}: eval_set {spec['eval_set']!r} not in the metrics of study {study} "
                          f"(have: {', '.join(sorted(sets))})")
    for s in schedules:
        if not ((df["schedule"] == s) & (df["eval_set"] == spec["eval_set"])).any():
            raise ConfigError(f"claim {cid}: eval_set {spec['eval_set']!r} not in the metrics of schedule {s}")


def claim_rows(df: pd.DataFrame, spec: Mapping[str, Any]) -> pd.DataFrame:
    """The rows of ``df`` a claim reads: those of the seeds in ``spec["seeds"]`` (all rows without the key).

    A study with ``pre_anneal_seeds`` has runs that end before its first
    anneal; the workflow's specs name the seeds each claim reads
    (:func:`lrorder.plan.claim_specs`), so a claim never reads a seed by
    accident.

    Raises:
        ConfigError: a named seed has no run of a schedule the claim uses.
    """
    if "seeds" not in spec:
        return df
    rows = df[df["seed"].isin(spec["seeds"])]
    for role in ("a", "b", "reference"):
        if role in spec:
            have = set(rows.loc[rows["schedule"] == spec[role], "seed"])
            missing = [seed for seed in spec["seeds"] if seed not in have]
            if missing:
                raise ConfigError(f"claim {spec['id']}: no run of schedule {spec[role]} for seed {missing[0]} in the "
                                  f"metrics (the claim reads seeds {', '.join(map(str, spec['seeds']))})")
    return rows


def check_claim(df: pd.DataFrame, spec: Mapping[str, Any], study: str) -> dict[str, Any]:
    """Evaluate one validated claim spec before the Holm correction.

    Returns:
        A row of :data:`CLAIM_COLUMNS` with ``p_holm``, ``p_below_holm``
        and ``verdict`` still unset (see :func:`check_claims`).
    """
    _check_names(df, spec, study)
    df = claim_rows(df, spec)
    values, n_censored, n_diverged, estimate = per_seed_values(df, spec)
    eff = effect_tests(values.to_numpy(), float(spec["min_effect"]), float(spec["alpha"]), spec["test"])
    lo, hi = spec["window"]
    return {
        "study": study, "claim": spec["id"], "description": spec["description"],
        "statistic": statistic_text(spec), "eval_set": spec["eval_set"],
        "a": spec["a"], "b": spec.get("b", ""), "reference": spec.get("reference", ""),
        "window_lo": int(lo), "window_hi": int(hi), "n_seeds": eff.n, "n_censored": n_censored,
        "n_diverged": n_diverged,
        "mean": eff.mean, "std": eff.std, "ci_low": eff.ci_low, "ci_high": eff.ci_high,
        "estimate": estimate, "min_effect": float(spec["min_effect"]),
        "p_value": eff.p_value, "p_holm": math.nan, "p_below": eff.p_below, "p_below_holm": math.nan,
        "alpha": float(spec["alpha"]), "verdict": "",
    }


def check_claims(df: pd.DataFrame, specs: Sequence[dict[str, Any]], study: str) -> pd.DataFrame:
    """Evaluate one study's claim specs on tidy metrics, with Holm's correction over them.

    Each claim gets the per-seed values of :func:`per_seed_values`, then
    :func:`lrorder.stats.effect_tests` (``mean, std, ci_low, ci_high``: the
    values' mean, sample std and two-sided ``1 - 2 alpha`` Student-t
    interval; ``p_value``, ``p_below``: one-sided p-values of "effect <= 0"
    and of "effect >= min_effect"). The Holm family of a study is its claims
    with at least ``min_seeds`` paired seeds and a defined p-value
    (:func:`lrorder.stats.holm`, separately for ``p_value`` and ``p_below``);
    the others get NaN adjusted p-values and the verdict "inconclusive".
    ``verdict`` is :func:`lrorder.stats.verdict`.

    Args:
        df: tidy metrics (columns of :data:`lrorder.columns.METRIC_COLUMNS`);
            rows of other studies, if any, are ignored.
        specs: resolved claim specs (:data:`SPEC_SCHEMA`).
        study: study name written in the ``study`` column and used to select rows.

    Returns:
        One row per spec, in order, with the columns of :data:`CLAIM_COLUMNS`:
        ``window_lo, window_hi, n_seeds, n_censored, n_diverged`` int
        (``n_seeds``: seeds the test used; ``n_diverged``: paired seeds
        dropped for a diverged run, :func:`per_seed_values`); ``mean, std,
        ci_low, ci_high, estimate, min_effect, p_value, p_holm, p_below,
        p_below_holm, alpha`` float (``estimate`` NaN but for ratio claims);
        the others str (``b``, ``reference`` empty when unused).

    Raises:
        ConfigError: a spec is invalid, names a schedule or eval_set absent
            from the study's metrics, a seed without a run of one of its
            schedules (:func:`claim_rows`), or a window some run it reads
            does not cover; or no row has this study; or two specs share an id.
    """
    if not isinstance(specs, (list, tuple)):
        raise ConfigError(f"--spec: expected a JSON list of claim objects, got {type(specs).__name__}")
    checked = [validate_spec(s, i) for i, s in enumerate(specs)]
    ids = [s["id"] for s in checked]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise ConfigError(f"--spec: claim id(s) {', '.join(dupes)} used more than once")
    rows = df[df["study"] == study]
    if rows.empty:
        have = ", ".join(sorted(df["study"].astype(str).unique()))
        raise ConfigError(f"--study: no metrics for study {study!r} (have: {have})")
    out = pd.DataFrame.from_records([check_claim(rows, s, study) for s in checked], columns=list(CLAIM_COLUMNS))
    if out.empty:
        return out
    enough = out["n_seeds"].to_numpy() >= np.array([s["min_seeds"] for s in checked])
    for raw, adjusted in (("p_value", "p_holm"), ("p_below", "p_below_holm")):
        out[adjusted] = holm(out[raw].where(enough).to_numpy(dtype=float))
    out["verdict"] = [
        verdict(r.p_holm, r.p_below_holm, r.alpha, r.n_seeds, s["min_seeds"])
        for r, s in zip(out.itertuples(index=False), checked)
    ]
    return out


def seed_values(df: pd.DataFrame, specs: Sequence[dict[str, Any]], study: str) -> pd.DataFrame:
    """The per-seed values each claim of :func:`check_claims` tested, one row per claim and seed.

    Args:
        df, specs, study: as in :func:`check_claims` (call that first: it
            validates the specs and the metrics).

    Returns:
        Columns :data:`SEED_COLUMNS`: ``study`` and ``claim`` str, ``seed``
        int, ``value`` float64 (the oriented per-seed value of
        :func:`per_seed_values`, in the claim's units; NaN where it is
        undefined), in spec order, seeds ascending; seeds a claim dropped
        (:func:`per_seed_values`: a diverged run, or in a difference or
        ratio every run censored) have no row.
    """
    rows = df[df["study"] == study]
    parts = []
    for spec in (validate_spec(s, i) for i, s in enumerate(specs)):
        values = per_seed_values(claim_rows(rows, spec), spec)[0]
        parts.append(pd.DataFrame({"study": study, "claim": str(spec["id"]), "seed": values.index.astype(int),
                                   "value": values.to_numpy(dtype=float)}))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=list(SEED_COLUMNS))


def collect(paths: Sequence[str | os.PathLike]) -> pd.DataFrame:
    """Concatenate per-study claim tables (columns :data:`CLAIM_COLUMNS`) in the given order.

    Raises:
        DataError: a file is missing, empty or not CSV, its columns differ from
            :data:`CLAIM_COLUMNS`, or two files hold the same (study, claim).
    """
    frames = []
    for path in paths:
        t = fileio.read_csv(path, "claims")
        if list(t.columns) != list(CLAIM_COLUMNS):
            raise DataError(f"{path}: expected columns {', '.join(CLAIM_COLUMNS)}")
        frames.append(t)
    out = pd.concat(frames, ignore_index=True)
    dup = out.duplicated(["study", "claim"])
    if dup.any():
        study, claim = out.loc[dup, ["study", "claim"]].iloc[0]
        raise DataError(f"claim {claim} of study {study} appears in more than one file")
    return out


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: see the module docstring."""
    parser = cli.ArgumentParser(prog="python -m lrorder.claims",
                                     description="Check the paper's claims across seeds.")
    sub = parser.add_subparsers(dest="command", required=True)
    p_check = sub.add_parser("check", help="evaluate claim specs on one study's metrics")
    p_check.add_argument("--metrics", required=True, nargs="+", metavar="ALL.csv",
                         help="aggregated tidy metrics (several files: their runs together, e.g. a study's "
                              "aggregate and its pre_anneal aggregate)")
    p_check.add_argument("--study", required=True, metavar="NAME")
    p_check.add_argument("--spec", required=True, metavar="JSON", help="JSON list of resolved claim specs")
    p_check.add_argument("--out", required=True, metavar="CLAIMS.csv")
    p_check.add_argument("--out-seeds", metavar="SEEDS.csv", help="also write each claim's per-seed values")
    p_collect = sub.add_parser("collect", help="concatenate per-study claim tables")
    p_collect.add_argument("claims", nargs="+", metavar="CLAIMS.csv")
    p_collect.add_argument("--out", required=True, metavar="ALL_CLAIMS.csv")
    args = parser.parse_args(argv)

    if args.command == "check":
        specs = cli.parse_json_arg(args.spec, "--spec")
        metrics = load_runs(args.metrics)
        table = check_claims(metrics, specs, args.study)
        if args.out_seeds is not None:
            with atomic_path(args.out_seeds) as tmp:
                seed_values(metrics, specs, args.study).to_csv(tmp, index=False)
    else:
        table = collect(args.claims)
    with atomic_path(args.out) as tmp:
        table.to_csv(tmp, index=False)


if __name__ == "__main__":
    cli.run(main)
