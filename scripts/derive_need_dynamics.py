"""Derive the year-group profiles of need onset and resolution that keep the start census.

Why: the start census gives each year group a share of pupils with latent need (in proportion
to identified SEN by age); onset and resolution must carry one January's Year g into the next
January's Year g+1 share, or the model drifts away from its start for reasons that have nothing
to do with policy. For each year group g, with p(g) the start share, a chosen effective
resolution rate rho(g) among need holders fixes the onset hazard:

    p(g+1) = p(g) + h(g) (1 - p(g)) - rho(g) p(g)   =>   h(g) = (p(g+1) - p(g) + rho(g) p(g)) / (1 - p(g))

Resolution in the model acts on mild needs only (met ones at the full rate), so the rates that
deliver h and rho are found by running `configs/no_trends.yaml` and rescaling the profiles by
target / observed, a few times. Prints the profiles to paste into `sim/config/schema.py`.

    python scripts/derive_need_dynamics.py [--councils 4] [--iterations 3]
"""

from __future__ import annotations

import argparse

import numpy as np

from sim.config.loader import load_config
from sim.model import SendModel

# effective yearly resolution among need holders: low in primary, a step at the move to
# secondary (needs met in primary that do not carry over), moderate in secondary [assumption]
RHO = np.array([0.02, 0.02, 0.02, 0.02, 0.02, 0.03, 0.10, 0.06, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05])


def observed(config, councils: int, seed: int):
    model = SendModel(config, seed=seed).run()
    n = len(model.children.fsm)
    onset = np.zeros((14, 2))
    resolution = np.zeros((14, 2))
    snaps = model.recorder.census
    for a, b in zip(snaps[:-1], snaps[1:]):
        before = np.full(n, np.nan)
        after = np.full(n, np.nan)
        before[a.lo:a.hi] = a.columns["severity"]
        after[b.lo:b.hi] = b.columns["severity"]
        year_group = np.full(n, -9)
        year_group[a.lo:a.hi] = a.columns["year_group"]
        for g in range(13):
            sel = (year_group == g) & ~np.isnan(after)
            without, with_need = sel & (before == 0), sel & (before > 0)
            onset[g] += [(after[without] > 0).sum(), without.sum()]
            resolution[g] += [(after[with_need] == 0).sum(), with_need.sum()]
    return onset[:, 0] / np.maximum(onset[:, 1], 1), resolution[:, 0] / np.maximum(resolution[:, 1], 1)


def start_profile(config) -> np.ndarray:
    """The start census's expected latent-need share by year group (as the population builder draws it)."""
    census = config.census
    profile = np.array(census.ehcp_age_profile) * census.ehcp_share + np.array(census.sen_support_age_profile) * census.sen_support_share
    return census.latent_need_share * profile / profile[:12].mean()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/no_trends.yaml")
    parser.add_argument("--councils", type=int, default=4)
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    config = load_config(args.config)
    config.population.councils = args.councils
    for iteration in range(args.iterations):
        h_obs, rho_obs = observed(config, args.councils, args.seed + iteration)
        p = start_profile(config)
        h_target = np.clip((p[1:] - p[:-1] + RHO[:-1] * p[:-1]) / (1 - p[:-1]), 0.0, None)
        h_target = np.r_[h_target[:11], h_target[10], h_target[10], h_target[10]]  # post-16: not in the census
        needs = config.needs
        onset = np.array(needs.onset_age_profile) * np.where(h_obs > 0, h_target / np.maximum(h_obs, 1e-9), 1.0)
        resolution = np.array(needs.resolution_age_profile) * np.where(rho_obs > 0, RHO / np.maximum(rho_obs, 1e-9), 1.0)
        onset[11:], resolution[11:] = onset[10], resolution[10]
        onset_level = needs.onset_rate_per_year * onset[:12].mean()
        resolution_level = min(needs.resolution_rate_per_year * resolution[:12].mean(), 1.0)
        needs.onset_rate_per_year = round(float(onset_level), 4)
        needs.onset_age_profile = [round(float(v), 2) for v in onset / onset[:12].mean()]
        needs.resolution_rate_per_year = round(float(resolution_level), 3)
        needs.resolution_age_profile = [round(float(v), 2) for v in np.minimum(resolution / resolution[:12].mean(), 20.0)]
        print(f"iteration {iteration + 1}: start share {np.round(p[:12] * 100, 1)}")
        print(f"  onset observed {np.round(h_obs[:12] * 100, 2)} target {np.round(h_target[:12] * 100, 2)}")
        print(f"  resolution observed {np.round(rho_obs[:12] * 100, 2)} target {np.round(RHO[:12] * 100, 2)}")
        print(f"  onset_rate_per_year: {needs.onset_rate_per_year}\n  onset_age_profile: {needs.onset_age_profile}")
        print(f"  resolution_rate_per_year: {needs.resolution_rate_per_year}\n  resolution_age_profile: {needs.resolution_age_profile}")


if __name__ == "__main__":
    main()
