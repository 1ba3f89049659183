# Two commands for a newcomer: `make run` and `make test`. Both build .venv themselves.
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: lint run test test-slow test-all bench validate clean-venv dashboard screenshots lab notebooks-html browser-deps

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
$(NB_STAMP): $(STAMP) pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[dev,notebooks]'
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
