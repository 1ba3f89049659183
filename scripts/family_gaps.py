"""Print within-need gaps by family resources for a scenario: mean and spread over replicates.

Why: a disadvantage gap is only about access or treatment if it is measured at equal need. This
runs a scenario for a few seeds and prints, per replicate and on average, quintile 1 minus
quintile 5 and FSM minus non-FSM at equal need at onset (onset severity bin x need type; see
`sim.metrics.family.within_need_gaps`), and the tribunal success gap after a refusal.

    python scripts/family_gaps.py configs/baseline.yaml --scale 0.25 --end 2031-08 --seeds 11,12,13,14,15
    python scripts/family_gaps.py configs/no_family_resources.yaml --scale 0.25 --end 2031-08
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from sim.config.loader import load_config
from sim.metrics import children_table
from sim.metrics.family import within_need_gaps
from sim.model import SendModel


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config")
    parser.add_argument("--scale", type=float, default=0.25)
    parser.add_argument("--end", default="2031-08")
    parser.add_argument("--seeds", default="11,12,13,14,15")
    args = parser.parse_args()
    config = load_config(args.config)
    data = config.model_dump()
    data["population"]["scale"] = args.scale
    data["run"]["end"] = args.end
    config = type(config).model_validate(data)
    rows = []
    for seed in (int(s) for s in args.seeds.split(",")):
        model = SendModel(config, seed=seed).run()
        rows.append(within_need_gaps(model, children_table(model)))
    frame = pd.DataFrame(rows)
    summary = pd.DataFrame({"mean": frame.mean(), "se": frame.std(ddof=1) / np.sqrt(len(frame))})
    print(f"{config.name}: within-need gaps over {len(frame)} replicates (shares as fractions)")
    print(summary.round(4).to_string())


if __name__ == "__main__":
    main()
