# Two commands for a newcomer: `make run` and `make test`. Both build .venv themselves.
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-slow test-all bench validate clean-venv

$(STAMP): pyproject.toml
	@PY=$$(scripts/find_python.sh) || exit 1; \
	  [ -x $(BIN)/python ] || $$PY -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

## The main job: today's system vs the White Paper reform on the default council, paired per child,
## with the reform taken apart into its components (configs/components/white_paper.yaml)
run: $(STAMP)
	$(BIN)/sendsim compare configs/baseline.yaml configs/reform_white_paper.yaml --replicates 4 --decompose --out results/baseline_vs_white_paper

## The test suite (fast default; slow statistical tests: make test-slow)
test: $(STAMP)
	$(BIN)/python -m pytest -n 2

test-slow: $(STAMP)
	$(BIN)/python -m pytest -n 2 -m slow

## Everything, slow tests included (among them 1,000 mutated configs through the command line)
test-all: $(STAMP)
	$(BIN)/python -m pytest -n 2 -m 'slow or not slow'

bench: $(STAMP)
	$(BIN)/python benchmarks/step_throughput.py

validate: $(STAMP)
	$(BIN)/sendsim validate configs/baseline.yaml

clean-venv:
	rm -rf $(VENV)
