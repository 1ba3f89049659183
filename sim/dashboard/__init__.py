"""`sendsim dashboard`: turn a lever, rerun a paired comparison, see who gains and who loses.

Why: students and policy readers explore rather than script. The dashboard is a thin layer over
the same code the command line uses — scenarios from `configs/`, validation by the config loader,
`sim.experiments.compare.compare_scenarios` for the paired runs — so a number seen on screen is
the number `sendsim compare` writes for the same resolved config, and the YAML it offers for
download reproduces that config exactly.

Modules: `levers` (widgets described by the parameter metadata), `scenario` (what is on screen
as validated configs and as a YAML diff), `engine` (cached, cancellable comparisons), `charts`
(figures and their data), `app` (the Solara page), `serve` (starting the server).
"""
