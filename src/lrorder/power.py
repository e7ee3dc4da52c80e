"""How often a study's claims would keep their verdicts in a rerun with ``n`` seeds, estimated from calibration runs.

Before the first anneal a rounding change (another CPU, memory layout or
thread count) soon makes each seed's run a new draw: its curve decorrelates
from the run it was (README, "Stability across machines"). A rerun of a
campaign is then a fresh sample of ``n`` runs per schedule, and a verdict
is stable only if ``n`` seeds give it nearly always. This module estimates
that from finished runs (calibration seeds, disjoint from the reported ones):

1. each run's summary over each claim's window (:func:`lrorder.claims.run_summary`),
   from every run that covers the window (runs of different lengths mix);
2. per draw, for each claim, ``n`` seeds drawn with replacement from the
   seeds that have a covering run of every role the claim compares (a
   paired bootstrap: a seed's runs share its data and initialisation, and
   stay together);
3. the per-seed values of the claim (:func:`lrorder.claims.contrast_values`),
   its tests (:func:`lrorder.stats.effect_tests`), Holm's correction over
   the study's claims drawn together, and the verdict (:func:`lrorder.stats.verdict`).

It reports, per ``n`` and claim, how often each verdict came out and the
agreement ``sum_v f_v^2``: the chance that two independent campaigns of
``n`` seeds give the same verdict. What it does not test: anything that
depends on the reported seeds themselves (it never reads them), or a
change of regime between calibration and report.

Usage::

    python -m lrorder.power METRICS.csv [METRICS.csv ...] --study patch \\
        [--base config.yaml] [--configfile LAYER ...] [--seeds 5 8] [--pre-anneal-seeds 0 8 11] [--end EPOCH] \\
        [--alias RUN_SCHEDULE=SCHEDULE ...] [--claims ID ...] [--draws 2000] [--rng-seed 0]

The campaign sizes default to the config's (``seeds`` and
``pre_anneal_seeds``); ``--seeds`` and ``--pre-anneal-seeds`` try others,
every pair of them. ``--end`` resolves the claims' windows as for a study trained that many
epochs (``end-4`` is ``EPOCH - 4``), as :mod:`lrorder.reread` cuts runs.
"""

from __future__ import annotations

import gc
import itertools
from collections import Counter
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from lrorder import aggregate, claims, cli, plan, stats
from lrorder.errors import ConfigError, DataError

COLUMNS = ("seeds", "pre_anneal_seeds", "claim", "n", "runs", "mean", "sd", "verdicts", "agreement")


def run_summaries(metrics: pd.DataFrame, spec: Mapping[str, Any]) -> pd.DataFrame:
    """Per seed with a run of every role of the claim that covers its window: the runs' summaries.

    Returns:
        One row per such (study, seed), columns the claim's roles (``a``,
        ``b``, ``reference``: float64 :func:`lrorder.claims.run_summary`)
        and ``censored`` (bool: every role's run censored, a seed that
        :func:`lrorder.claims.per_seed_values` drops from a contrast of two
        or more roles). Diverged runs are left out.

    Raises:
        ConfigError: no seed has covering runs of every role.
    """
    lo, hi = spec["window"]
    rows = metrics[~aggregate.diverged_rows(metrics) & (metrics["eval_set"] == spec["eval_set"])
                   & metrics["epoch"].between(lo, hi)]
    roles = [role for role in ("a", "b", "reference") if role in spec]
    values: dict[str, pd.Series] = {}
    censored: dict[str, pd.Series] = {}
    for role in roles:
        runs = {}
        for key, curve in rows[rows["schedule"] == spec[role]].groupby(["study", "seed"]):
            curve = curve.sort_values("epoch")
            if len(curve) == hi - lo + 1:
                runs[key] = claims.run_summary(curve["accuracy"].to_numpy(float), curve["epoch"].to_numpy(), spec)
        values[role] = pd.Series({k: v for k, (v, _) in runs.items()}, dtype=float)
        censored[role] = pd.Series({k: c for k, (_, c) in runs.items()}, dtype=bool)
    table = pd.concat(values, axis=1, join="inner")
    if table.empty:
        raise ConfigError(f"claim {spec['id']}: no seed has runs of {', '.join(spec[r] for r in roles)} that cover "
                          f"epochs {lo}-{hi} on {spec['eval_set']} (to estimate only the claims the runs cover, "
                          f"name them with --claims ID ...)")
    table["censored"] = pd.concat(censored, axis=1, join="inner").loc[table.index].all(axis=1) & (len(roles) > 1)
    return table


def draw_verdicts(summaries: Sequence[pd.DataFrame], specs: Sequence[Mapping[str, Any]],
                  sizes: Sequence[int], rng: np.random.Generator, family: int | None = None) -> list[str]:
    """The verdicts of one simulated campaign, claim ``i`` on ``sizes[i]`` seeds drawn with replacement
    from the rows of ``summaries[i]`` (:func:`run_summaries`), Holm-corrected together.

    ``family`` (default ``len(specs)``) is the size of the Holm family; the
    ``family - len(specs)`` claims not drawn count as p-values of 1, so the
    drawn claims get the largest correction the family can give them
    (for the smallest p-value, Bonferroni's).
    """
    tests = []
    for table, spec, n in zip(summaries, specs, sizes):
        x = _claim_values(table.iloc[rng.integers(0, len(table), size=n)], spec)
        tests.append(stats.effect_tests(x, float(spec["min_effect"]), float(spec["alpha"]), spec["test"]))
    pad = [1.0] * ((len(specs) if family is None else family) - len(specs))
    p_holm = stats.holm(np.array([t.p_value for t in tests] + pad))
    p_below_holm = stats.holm(np.array([t.p_below for t in tests] + pad))
    return [stats.verdict(p, q, float(spec["alpha"]), t.n, spec["min_seeds"])
            for p, q, spec, t in zip(p_holm, p_below_holm, specs, tests)]


def verdict_agreement(metrics: pd.DataFrame, config: Mapping[str, Any], study: str,
                      seeds: Sequence[int] | None = None, pre_anneal_seeds: Sequence[int] | None = None,
                      draws: int = 2000, rng_seed: int = 0, claim_ids: Sequence[str] | None = None
                      ) -> pd.DataFrame:
    """Per campaign size and claim: verdict frequencies over ``draws`` simulated campaigns, and their agreement.

    A campaign of ``(n, m)`` seeds reads ``n`` runs per role in every claim
    and ``n + m`` in those whose window ends before the first anneal (the
    claims that read ``pre_anneal_seeds``, :func:`lrorder.plan.claim_specs`).

    Args:
        metrics: tidy metrics (:data:`lrorder.columns.METRIC_COLUMNS`) of
            the calibration runs, schedules named as in ``config``.
        config: the config whose claims are estimated (:func:`lrorder.plan.layered_config`).
        study: the study whose claims (its Holm family) are drawn.
        seeds: numbers of full seeds ``n`` to try (default: the config's
            ``seeds``); each with every entry of
        pre_anneal_seeds: numbers of pre-anneal seeds ``m`` (default: the
            config's ``pre_anneal_seeds``).
        draws: simulated campaigns per ``n``.
        rng_seed: seed of the resampling (numpy ``default_rng``).
        claim_ids: estimate only these claims of the study (default: all),
            for calibration runs that cover only their windows and roles;
            the study's other claims stay in the Holm family as p-values of
            1 (:func:`draw_verdicts`), a correction at least as strict as
            the report's.

    Returns:
        Columns :data:`COLUMNS`: ``seeds``, ``pre_anneal_seeds`` int (the
        campaign); ``claim`` str; ``n`` int (seeds the claim reads); ``runs`` int
        (seeds behind the estimate: with a covering run of every role);
        ``mean``, ``sd`` float (the claim's per-seed values over those
        seeds, oriented as the claim tests them: the population the
        campaigns are drawn from; sd with ``ddof=1``);
        ``verdicts`` str (``"reproduced 0.93, inconclusive 0.07"``);
        ``agreement`` float in [0, 1].

    Raises:
        ConfigError: ``n`` < 2, ``m`` < 0, ``draws`` < 1, a claim id that is not the study's, or a
            claim's role without a covering run.
    """
    study_cfg = config["studies"][study]
    seeds = [len(study_cfg["seeds"])] if seeds is None else list(seeds)
    pre = [len(plan.pre_anneal_seeds(config, study))] if pre_anneal_seeds is None else list(pre_anneal_seeds)
    if any(n < 2 for n in seeds):
        raise ConfigError(f"--seeds: expected numbers of seeds of at least 2, got {seeds}")
    if any(m < 0 for m in pre):
        raise ConfigError(f"--pre-anneal-seeds: expected numbers of seeds of at least 0, got {pre}")
    if draws < 1:
        raise ConfigError(f"--draws: expected at least 1, got {draws}")
    anneal = plan.anneal_epoch(config, study)
    specs = [{k: v for k, v in spec.items() if k != "seeds"} for spec in plan.claim_specs(config, study)]
    family = len(specs)
    if claim_ids is not None:
        unknown = sorted(set(claim_ids) - {spec["id"] for spec in specs})
        if unknown:
            raise ConfigError(f"--claims: {unknown[0]!r} is not a claim of study {study!r} "
                              f"(its claims: {', '.join(spec['id'] for spec in specs)})")
        specs = [spec for spec in specs if spec["id"] in set(claim_ids)]
    early = [anneal is not None and spec["window"][1] < anneal for spec in specs]
    summaries = [run_summaries(metrics, spec) for spec in specs]
    populations = {spec["id"]: _population(table, spec) for table, spec in zip(summaries, specs)}
    rng = np.random.default_rng(rng_seed)
    # statsmodels' Holm correction runs gc.collect() on every call (0.15 s with torch's objects on the
    # heap; thousands of calls here): objects that exist now are frozen, so collections skip them.
    gc.freeze()
    try:
        rows = _simulate(summaries, specs, early, seeds, pre, draws, rng, family)
        for row in rows:
            row["mean"], row["sd"] = populations[row["claim"]]
    finally:
        gc.unfreeze()
    return pd.DataFrame(rows, columns=list(COLUMNS))


def _claim_values(rows: pd.DataFrame, spec: Mapping[str, Any]) -> np.ndarray:
    """The claim's per-seed values (:func:`lrorder.claims.contrast_values`) of the uncensored ``rows`` of a
    :func:`run_summaries` table."""
    kept = rows[~rows["censored"].to_numpy()]
    return claims.contrast_values({role: kept[role].to_numpy(float) for role in rows.columns[:-1]}, spec)[0]


def _population(table: pd.DataFrame, spec: Mapping[str, Any]) -> tuple[float, float]:
    """Mean and sd (``ddof=1``) of a claim's per-seed values over every seed of ``table`` (:func:`run_summaries`)."""
    x = _claim_values(table, spec)
    x = x[np.isfinite(x)]
    return float(x.mean()) if len(x) else float("nan"), float(x.std(ddof=1)) if len(x) > 1 else float("nan")


def _simulate(summaries: Sequence[pd.DataFrame], specs: Sequence[Mapping[str, Any]], early: Sequence[bool],
              seeds: Sequence[int], pre: Sequence[int], draws: int, rng: np.random.Generator,
              family: int) -> list[dict]:
    rows = []
    for n, m in itertools.product(seeds, pre):
        sizes = [n + m if before else n for before in early]
        counts = [Counter() for _ in specs]
        for _ in range(draws):
            for count, label in zip(counts, draw_verdicts(summaries, specs, sizes, rng, family)):
                count[label] += 1
        for spec, s, count, size in zip(specs, summaries, counts, sizes):
            freq = {label: c / draws for label, c in count.most_common()}
            rows.append({"seeds": int(n), "pre_anneal_seeds": int(m), "claim": spec["id"], "n": int(size),
                         "runs": len(s),
                         "verdicts": ", ".join(f"{label} {f:.2f}" for label, f in freq.items()),
                         "agreement": float(sum(f * f for f in freq.values()))})
    return rows


def _aliases(pairs: Sequence[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        run_name, sep, name = pair.partition("=")
        if not sep or not run_name or not name:
            raise ConfigError(f"--alias: expected RUN_SCHEDULE=SCHEDULE, got {pair!r}")
        out[run_name] = name
    return out


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: print :func:`verdict_agreement`'s table; one line and exit 2 on bad input (:func:`lrorder.cli.run`)."""
    parser = cli.ArgumentParser(prog="python -m lrorder.power", description=__doc__.split("\n\n")[0])
    parser.add_argument("metrics", nargs="+", metavar="METRICS.csv", help="tidy metrics of finished runs")
    parser.add_argument("--study", required=True)
    parser.add_argument("--base", default="config.yaml", metavar="YAML", help="the base config (default: %(default)s)")
    parser.add_argument("--configfile", nargs="*", default=[], metavar="YAML", help="config layers over the base")
    parser.add_argument("--seeds", nargs="+", type=int, metavar="N",
                        help="numbers of full seeds to try (default: the config's seeds)")
    parser.add_argument("--pre-anneal-seeds", nargs="+", type=int, metavar="M",
                        help="numbers of pre-anneal seeds to try with each (default: the config's pre_anneal_seeds)")
    parser.add_argument("--end", type=int, metavar="EPOCH",
                        help="resolve windows as if the study trained EPOCH epochs (default: its training.epochs)")
    parser.add_argument("--alias", nargs="*", default=[], metavar="RUN=NAME",
                        help="read the runs of schedule RUN as schedule NAME (e.g. a screen's large_lr_100=large_lr)")
    parser.add_argument("--claims", nargs="+", metavar="ID",
                        help="estimate only these claims; the study's others count in Holm's family as p = 1")
    parser.add_argument("--draws", type=int, default=2000, help="simulated campaigns per size (default: %(default)s)")
    parser.add_argument("--rng-seed", type=int, default=0)
    args = parser.parse_args(argv)
    config = plan.config_from_files(args.base, args.configfile, args.study)
    if args.end is not None:
        config["studies"][args.study]["training"]["epochs"] = args.end
    # each file checked as aggregation checks it (columns, integer seeds and epochs, accuracies in [0, 1],
    # no repeated or missing rows), then across files: a run passed twice would count once, silently
    frames = [aggregate.read_metrics(path) for path in args.metrics]
    metrics = pd.concat(frames, ignore_index=True)
    metrics["schedule"] = metrics["schedule"].replace(_aliases(args.alias))
    repeated = metrics.duplicated(aggregate.ROW_KEY)
    if repeated.any():
        row = metrics.loc[repeated, aggregate.ROW_KEY].iloc[0].to_dict()
        raise DataError(f"METRICS.csv: two of the files hold the row {row} (after --alias); pass each run's "
                        "metrics once")
    table = verdict_agreement(metrics, config, args.study, args.seeds, args.pre_anneal_seeds, args.draws,
                              args.rng_seed, args.claims)
    with pd.option_context("display.width", 200, "display.max_colwidth", 80, "display.float_format", "{:.3f}".format):
        print(table.to_string(index=False))


if __name__ == "__main__":
    cli.run(main)
