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

With `--support` it derives, the same way, what keeps the census's SEN support and EHCP shares
by year group: with I(g) = SEN support + EHCP and E(g) = EHCP the start shares of year group g,
x the observed yearly share of identified (or plan-holding) pupils who are not a year later,
the yearly entry y(g) = (I(g+1) - I(g) (1 - x(g))) / (1 - I(g)) is what
`identification.age_profile` (for I) and `requests.age_profile` (for E) must deliver; Reception's
January shares fix the share of entrants arriving on SEN support
(`identification.early_years_support_share`) or with a plan
(`needs.preschool_plan_share_of_reception`). The request profile keeps mean 1 over Reception to
Year 11: its level is 2025's in the baseline, and the level that replaces the plans that end is
printed as the request rates of `configs/no_trends.yaml`.

    python scripts/derive_need_dynamics.py --support [--councils 4] [--iterations 4]
"""

from __future__ import annotations

import argparse

import numpy as np

from sim.config.loader import load_config
from sim.model import SendModel
from sim.population.state import EHCP, SEN_SUPPORT

# effective yearly resolution among need holders: low in primary, a step at the move to
# secondary (needs met in primary that do not carry over), moderate in secondary [assumption]
RHO = np.array([0.02, 0.02, 0.02, 0.02, 0.02, 0.03, 0.10, 0.06, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05])


def observed(model):
    """Yearly January-to-January onset and resolution of latent need by year group."""
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


def census_profiles(config) -> tuple[np.ndarray, np.ndarray]:
    """The start census's SEN support and EHCP shares by year group (as the population builder draws them)."""
    census = config.census
    ehcp = np.array(census.ehcp_age_profile) / np.mean(census.ehcp_age_profile[:12]) * census.ehcp_share
    sen = np.array(census.sen_support_age_profile) / np.mean(census.sen_support_age_profile[:12]) * census.sen_support_share
    return sen, ehcp


def observed_support(model):
    """Yearly January-to-January entry and exit rates of identified (SEN support or EHCP) and of
    plan-holding pupils by year group, and the mean January Reception shares after the start."""
    n = len(model.children.fsm)
    counts = {key: np.zeros((14, 2)) for key in ("identified_in", "identified_out", "plan_in", "plan_out")}
    reception = []
    snaps = model.recorder.census
    for a, b in zip(snaps[:-1], snaps[1:]):
        level = {}
        for name, snap in (("before", a), ("after", b)):
            column = np.full(n, -1)
            column[snap.lo:snap.hi] = snap.columns["support_level"]
            level[name] = column
        year_group = np.full(n, -9)
        year_group[a.lo:a.hi] = a.columns["year_group"]
        yg_b, sl_b = b.columns["year_group"], b.columns["support_level"]
        reception.append([(sl_b[yg_b == 0] == SEN_SUPPORT).mean(), (sl_b[yg_b == 0] == EHCP).mean()])
        for g in range(13):
            sel = (year_group == g) & (level["after"] >= 0)
            identified = np.isin(level["before"], (SEN_SUPPORT, EHCP))
            identified_after = np.isin(level["after"], (SEN_SUPPORT, EHCP))
            plan, plan_after = level["before"] == EHCP, level["after"] == EHCP
            counts["identified_in"][g] += [(sel & ~identified & identified_after).sum(), (sel & ~identified).sum()]
            counts["identified_out"][g] += [(sel & identified & ~identified_after).sum(), (sel & identified).sum()]
            counts["plan_in"][g] += [(sel & ~plan & plan_after).sum(), (sel & ~plan).sum()]
            counts["plan_out"][g] += [(sel & plan & ~plan_after).sum(), (sel & plan).sum()]
    rates = {key: value[:, 0] / np.maximum(value[:, 1], 1) for key, value in counts.items()}
    return rates, np.mean(reception, axis=0)


def derive_support(config, iterations: int, seed: int) -> None:
    """Support and plans by year group, re-deriving the need profiles in the same runs (more
    support met more needs, and met mild needs resolve faster)."""
    sen, ehcp = census_profiles(config)
    identified = sen + ehcp
    ident, req = config.identification, config.requests
    for iteration in range(iterations):
        model = SendModel(config, seed=seed + iteration, keep_snapshots=True).run()
        rates, reception = observed_support(model)
        need_step(config, model, iteration)
        y_identified = np.clip((identified[1:] - identified[:-1] * (1 - rates["identified_out"][:13])) / (1 - identified[:-1]), 1e-4, None)
        y_plan = np.clip((ehcp[1:] - ehcp[:-1] * (1 - rates["plan_out"][:13])) / (1 - ehcp[:-1]), 1e-4, None)
        id_ratio = np.ones(14)
        plan_ratio = np.ones(14)
        id_ratio[:11] = np.where(rates["identified_in"][:11] > 0, y_identified[:11] / np.maximum(rates["identified_in"][:11], 1e-9), 1.0)
        plan_ratio[:11] = np.where(rates["plan_in"][:11] > 0, y_plan[:11] / np.maximum(rates["plan_in"][:11], 1e-9), 1.0)
        # Year 11's own multiplier acts from September to the January census: it follows Year 10's
        id_ratio[11:], plan_ratio[11:] = id_ratio[10], plan_ratio[10]
        identification = np.array(ident.age_profile) * id_ratio
        request = np.array(req.age_profile) * plan_ratio
        ident.monthly_rate = round(float(ident.monthly_rate * identification[:12].mean()), 4)
        ident.age_profile = [round(float(v), 2) for v in np.minimum(identification / identification[:12].mean(), 20.0)]
        level = request[:12].mean()
        req.school_monthly_rate = round(float(req.school_monthly_rate * level), 5)
        req.parent_monthly_rate = round(float(req.parent_monthly_rate * level), 5)
        req.age_profile = [round(float(v), 2) for v in np.minimum(request / level, 20.0)]
        ident.early_years_support_share = round(float(np.clip(ident.early_years_support_share + sen[0] - reception[0], 0.0, 0.5)), 4)
        config.needs.preschool_plan_share_of_reception = round(float(np.clip(config.needs.preschool_plan_share_of_reception + ehcp[0] - reception[1], 0.0, 0.1)), 4)
        print(f"iteration {iteration + 1}: Reception January SEN support {100 * reception[0]:.1f}% (census {100 * sen[0]:.1f}%), EHCP {100 * reception[1]:.1f}% (census {100 * ehcp[0]:.1f}%)")
        print(f"  identified entry observed {np.round(rates['identified_in'][:11] * 100, 2)} target {np.round(y_identified[:11] * 100, 2)}")
        print(f"  plan entry observed {np.round(rates['plan_in'][:11] * 100, 2)} target {np.round(y_plan[:11] * 100, 2)}")
        print(f"  identification.monthly_rate: {ident.monthly_rate}\n  identification.age_profile: {ident.age_profile}")
        print(f"  identification.early_years_support_share: {ident.early_years_support_share}")
        print(f"  needs.preschool_plan_share_of_reception: {config.needs.preschool_plan_share_of_reception}")
        print(f"  requests.age_profile: {req.age_profile}")
        print(f"  requests (no_trends): school_monthly_rate {req.school_monthly_rate}, parent_monthly_rate {req.parent_monthly_rate}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/no_trends.yaml")
    parser.add_argument("--councils", type=int, default=4)
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--support", action="store_true", help="derive identification and request profiles (SEN support and EHCP by year group)")
    args = parser.parse_args()
    config = load_config(args.config)
    config.population.councils = args.councils
    if args.support:
        derive_support(config, args.iterations, args.seed)
        return
    for iteration in range(args.iterations):
        need_step(config, SendModel(config, seed=args.seed + iteration, keep_snapshots=True).run(), iteration)


def need_step(config, model, iteration: int) -> None:
    """One rescaling of the onset and resolution profiles by target / observed."""
    h_obs, rho_obs = observed(model)
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
