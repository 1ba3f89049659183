# Two commands for a newcomer: `make run` and `make test`. Both build .venv themselves.
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: lint run test test-slow test-all bench validate clean-venv dashboard screenshots lab notebooks-html browser-deps lock

## Installs are reproducible: every package at the version and sha256 pinned in requirements/dev.lock
## (dependencies and the dev, distributed, calibration and dashboard extras), then sendsim itself
## without resolving anything again. `make lock` regenerates the pins from pyproject.toml.
LOCK := requirements/dev.lock
NB_LOCK := requirements/notebooks.lock

$(STAMP): pyproject.toml $(LOCK)
	@PY=$$(scripts/find_python.sh) || exit 1; \
	  [ -x $(BIN)/python ] || $$PY -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

## Regenerate the lock files from pyproject.toml (pip-tools; keeps existing pins unless
## pyproject.toml needs others: `make lock UPGRADE=--upgrade` moves everything to the newest)
lock: $(STAMP)
	CUSTOM_COMPILE_COMMAND="make lock" $(BIN)/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras \
	  --no-emit-index-url --no-emit-find-links $(UPGRADE) \
	  --extra dev --extra distributed --extra calibration --extra dashboard --output-file $(LOCK) pyproject.toml
	CUSTOM_COMPILE_COMMAND="make lock" $(BIN)/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras \
	  --no-emit-index-url --no-emit-find-links $(UPGRADE) --constraint $(LOCK) \
	  --extra dev --extra distributed --extra calibration --extra dashboard --extra notebooks --output-file $(NB_LOCK) pyproject.toml

## The main job: today's system vs the White Paper reform on the default council, paired per child,
## with the reform taken apart into its components (configs/components/white_paper.yaml) and the change in
## the gaps at equal need taken apart by the stages where family resources act (family_channels.yaml)
run: $(STAMP)
	$(BIN)/sendsim compare configs/baseline.yaml configs/reform_white_paper.yaml --replicates 4 --decompose --family-channels stage --out results/baseline_vs_white_paper

## The test suite (fast default; slow statistical tests: make test-slow)
test: $(STAMP) browser-deps
	$(BIN)/python -m pytest -n 2

## The dashboard's browser test needs Debian's chromium and the page's assets (both idempotent, quiet when present)
browser-deps: $(STAMP)
	@scripts/ensure_chromium.sh
	@$(BIN)/python scripts/ensure_solara_assets.py || true

## Explore a reform in the browser (http://127.0.0.1:8765/)
dashboard: $(STAMP) browser-deps
	$(BIN)/sendsim dashboard

## PNGs of the dashboard's equity and time-series views in docs/images/ (also prints time to first chart)
screenshots: $(STAMP) browser-deps
	$(BIN)/python scripts/dashboard_screenshots.py

NB_STAMP := $(VENV)/.notebooks-installed
$(NB_STAMP): $(STAMP) pyproject.toml $(NB_LOCK)
	$(BIN)/python -m pip install --quiet --require-hashes -r $(NB_LOCK)
	@touch $(NB_STAMP)

## JupyterLab on the teaching notebooks (open the .py or .ipynb: they are paired by Jupytext)
lab: $(NB_STAMP)
	$(BIN)/jupyter lab notebooks/

## Executed notebooks as HTML in docs/notebooks/
notebooks-html: $(NB_STAMP)
	$(BIN)/python scripts/notebooks_html.py

test-slow: $(STAMP)
	$(BIN)/python -m pytest -n 2 -m slow

## Everything, slow tests included (among them 1,000 mutated configs through the command line)
test-all: $(STAMP) browser-deps
	$(BIN)/python -m pytest -n 2 -m 'slow or not slow'

bench: $(STAMP)
	$(BIN)/python benchmarks/step_throughput.py
	$(BIN)/python benchmarks/oracle_speedup.py

validate: $(STAMP)
	$(BIN)/sendsim validate configs/baseline.yaml

clean-venv:
	rm -rf $(VENV)

## Lint: ruff (pyflakes, pycodestyle, import order) and the layer contract (import-linter, .importlinter)
lint: $(STAMP)
	$(BIN)/ruff check sim tests scripts benchmarks notebooks
	$(BIN)/lint-imports

.PHONY: format-check precommit

## Format check: new files, and files already formatted, follow `ruff format` (older files are listed in
## ruff-format.toml until each is formatted in a change of its own)
format-check: $(STAMP)
	$(BIN)/ruff format --check --config ruff-format.toml sim tests scripts benchmarks notebooks

## The pre-commit hooks (ruff, the format check, the layer contract) on every file; `.venv/bin/pre-commit install`
## runs them on the files of each commit
precommit: $(STAMP)
	$(BIN)/pre-commit run --all-files
