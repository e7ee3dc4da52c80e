"""Re-read finished runs: a study's claims as if training had stopped earlier, and over subsets of its seeds.

A calibration tool (README, "Calibration"). It answers two questions from
runs that exist already, without training again:

- **How long to train.** Every draw of a run (initialisation, batch order,
  patch and noise draws, the BatchNorm recalibration subset) comes from a
  ``(seed, epoch)`` stream (:mod:`lrorder.seeding`), and the LR and noise
  schedules are piecewise constant in the epoch, so the first ``e`` epochs of
  a run are exactly the run that is configured to train ``e`` epochs.
  Truncating the metrics at ``e`` and resolving the claim windows for ``e``
  epochs (``end`` = ``e``) therefore gives the claims of ``e``-epoch training.
- **How many seeds.** The verdict of every ``k``-seed subset of the runs'
  seeds, counted: a verdict that holds in every subset is one that ``k``
  reported seeds can be expected to give; one that splits is at the edge of
  what ``k`` seeds detect.

Usage::

    python -m lrorder.reread results/cal-patch-lr1.0/aggregate/patch/metrics.csv --study patch \\
        --configfile presets/calibration/seeds.yaml presets/calibration/patch_lr1.0.yaml \\
        --ends 20 22 25 30 --subset-size 5
"""

from __future__ import annotations

import copy
import itertools
from collections import Counter
from typing import Any, Mapping, Sequence

import pandas as pd

from lrorder import claims, cli, fileio, plan
from lrorder.errors import ConfigError, DataError

COLUMNS = ("end", "claim", "n_seeds", "mean", "ci_low", "ci_high", "verdict", "subset_verdicts")


def truncated_claims(metrics: pd.DataFrame, config: Mapping[str, Any], study: str, end: int) -> pd.DataFrame:
    """The study's claims (:func:`lrorder.claims.check_claims`) on its runs cut at epoch ``end``.

    The claim windows are resolved as for a study configured with
    ``training.epochs: end`` (so ``end-4`` means ``end - 4``), and the rows
    after epoch ``end`` are dropped.

    Raises:
        ConfigError: ``end`` lies past the last epoch of some run, or a claim
            window does not fit in ``end`` epochs.
    """
    last = int(metrics["epoch"].max())
    if not 1 <= end <= last:
        raise ConfigError(f"--ends: epoch {end} is outside the runs' epochs 1-{last}")
    shorter = copy.deepcopy(dict(config))
    shorter["studies"][study].setdefault("training", {})["epochs"] = int(end)
    # Every claim reads the seeds of ``metrics`` (a subset, in subset_verdicts), not the config's.
    specs = [{k: v for k, v in spec.items() if k != "seeds"} for spec in plan.claim_specs(shorter, study)]
    return claims.check_claims(metrics[metrics["epoch"] <= end], specs, study)


def subset_verdicts(metrics: pd.DataFrame, config: Mapping[str, Any], study: str, end: int,
                    size: int) -> dict[str, Counter]:
    """Per claim id, how many of the ``size``-seed subsets of the runs' seeds give each verdict.

    Raises:
        ConfigError: ``size`` is not between 1 and the number of seeds, or as
            :func:`truncated_claims`.
    """
    seeds = sorted(int(s) for s in metrics["seed"].unique())
    if not 1 <= size <= len(seeds):
        raise ConfigError(f"--subset-size: expected 1-{len(seeds)} (the runs' seeds), got {size}")
    counts: dict[str, Counter] = {}
    for subset in itertools.combinations(seeds, size):
        table = truncated_claims(metrics[metrics["seed"].isin(subset)], config, study, end)
        for claim, verdict in zip(table["claim"], table["verdict"]):
            counts.setdefault(claim, Counter())[verdict] += 1
    return counts


def reread(metrics: pd.DataFrame, config: Mapping[str, Any], study: str, ends: Sequence[int],
           subset_size: int | None = None) -> pd.DataFrame:
    """One row per end epoch and claim: the claim on all seeds, and (``subset_size`` given) the
    verdict counts over the seed subsets of that size.

    Args:
        metrics: tidy metrics of the study (``aggregate/<study>/metrics.csv``).
        config: the config the runs were made with (:func:`lrorder.plan.layered_config`).
        study: study name.
        ends: epochs to cut the runs at.
        subset_size: seeds per subset; ``None`` leaves ``subset_verdicts`` empty.

    Returns:
        Columns :data:`COLUMNS`: ``end``, ``n_seeds`` int; ``mean``,
        ``ci_low``, ``ci_high`` float (the claim's effect and its interval,
        as in ``claims.csv``); ``claim``, ``verdict`` str;
        ``subset_verdicts`` str such as ``"reproduced 10, inconclusive 46"``.

    Raises:
        ConfigError: as :func:`truncated_claims` and :func:`subset_verdicts`.
    """
    rows = []
    for end in ends:
        table = truncated_claims(metrics, config, study, end)
        counts = subset_verdicts(metrics, config, study, end, subset_size) if subset_size else {}
        for r in table.itertuples(index=False):
            split = ", ".join(f"{v} {n}" for v, n in counts.get(r.claim, Counter()).most_common())
            rows.append({"end": int(end), "claim": r.claim, "n_seeds": int(r.n_seeds), "mean": r.mean,
                         "ci_low": r.ci_low, "ci_high": r.ci_high, "verdict": r.verdict,
                         "subset_verdicts": split})
    return pd.DataFrame(rows, columns=list(COLUMNS))


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: print :func:`reread`'s table; one line and exit 2 on bad input (:func:`lrorder.cli.run`)."""
    parser = cli.ArgumentParser(prog="python -m lrorder.reread", description=__doc__.split("\n\n")[0])
    parser.add_argument("metrics", metavar="METRICS.csv", help="a study's aggregated metrics")
    parser.add_argument("--study", required=True)
    parser.add_argument("--base", default="config.yaml", metavar="YAML", help="the base config (default: %(default)s)")
    parser.add_argument("--configfile", nargs="*", default=[], metavar="YAML",
                        help="config layers over the base, as given to snakemake when the runs were made")
    parser.add_argument("--ends", nargs="+", type=int, required=True, metavar="EPOCH")
    parser.add_argument("--subset-size", type=int, metavar="K", help="also count verdicts over K-seed subsets")
    args = parser.parse_args(argv)
    config = plan.config_from_files(args.base, args.configfile, args.study)
    metrics = fileio.read_csv(args.metrics, "metrics")
    if "epoch" not in metrics or "seed" not in metrics:
        raise DataError(f"{args.metrics}: expected the columns of aggregate/<study>/metrics.csv")
    table = reread(metrics, config, args.study, args.ends, args.subset_size)
    with pd.option_context("display.width", 200, "display.max_colwidth", 60, "display.float_format", "{:+.3f}".format):
        print(table.to_string(index=False))


if __name__ == "__main__":
    cli.run(main)
