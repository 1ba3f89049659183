"""A reference implementation of the EHCP pipeline, one Mesa agent per child, for checking the vectorised model.

The model itself evaluates every rule for all children at once on numpy arrays (fast, but a rule
is spread over masks and index arrays). The oracle writes the same rules for one child at a time
in plain Python (`agents.py`), runs them from the same start population with the same
counter-based draws (`draws.py`, `model.py`), and must give identical results: who is
identified, who requests, every decision, EP advice, completed assessment and plan, and the
setting named in each plan, month by month. `pipeline.py` is the vectorised side restricted to the same stages. The oracle sits above
the model in the layers (it builds from a `SendModel`) and nothing in the simulation imports it:
it is used by `tests/test_oracle.py` and `benchmarks/oracle_speedup.py`.
"""
