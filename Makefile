# ntkbench: `make demo` and `make test` work on a fresh clone with Python 3.11 (and apt, optionally).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
# The tested combinations of Python, jax, equinox and optax are the files in constraints/: the newest
# one for this Python, or the one named by STACK= (e.g. `make install PYTHON=python3.12 STACK=py312-jax0.12`).
PYVER := $(shell $(PYTHON) -c 'import sys; print("py%d%d" % sys.version_info[:2])' 2>/dev/null)
STACK ?= $(lastword $(sort $(basename $(notdir $(wildcard constraints/$(PYVER)-*.txt)))))
CONSTRAINTS := constraints/$(STACK).txt
# neural-tangents is installed without its declared dependencies: they pull in TensorFlow,
# which ntkbench never uses (see DEVELOPERS.md and ntkbench/nt_compat.py).
NEURAL_TANGENTS := neural-tangents==0.6.5
REGISTRY := $(wildcard registry/ntkbench-*)
DEMO_SPEC := specs/fashion_mlp.yaml
DEMO_RUN := runs/fashion_mlp
PUBLISHED := leaderboard/results/fashion_mlp

.PHONY: demo publish test test-fast parity install data gpu-data leaderboard bench docs docs-serve clean

$(VENV)/.installed: pyproject.toml Makefile $(wildcard registry/*/pyproject.toml) $(wildcard constraints/*.txt)
	@test -n "$(STACK)" && test -f "$(CONSTRAINTS)" && case "$(STACK)" in $(PYVER)-*) ;; *) false;; esac \
		|| { echo "no tested stack '$(STACK)' for $(PYVER) ($(PYTHON)); the stacks are: $(basename $(notdir $(wildcard constraints/*.txt)))." \
		          "Set PYTHON=/path/to/python3.11 (or 3.12, 3.13) and optionally STACK=" >&2; exit 1; }
	@echo "stack: $(STACK) ($(PYTHON))"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -c $(CONSTRAINTS) -e '.[data]'
	$(BIN)/pip install --quiet --no-deps $(NEURAL_TANGENTS)
	$(BIN)/pip install --quiet --no-deps $(addprefix -e ,$(REGISTRY))
	@! $(BIN)/python -c 'import tensorflow' 2>/dev/null || { echo "TensorFlow must not be installed" >&2; exit 1; }
	touch $@

install: $(VENV)/.installed

# The test suite's extras: pytest, Ray (only `--executor ray` and its tests use it; the demo does not)
# and the trackers' backends (TensorBoard, MLflow, W&B: their tests log and read back for real; they
# read W&B's offline runs with wandb.sdk.internal.datastore, which wandb 0.30 removed).
$(VENV)/.test-installed: $(VENV)/.installed
	$(BIN)/pip install --quiet -c $(CONSTRAINTS) -e '.[test,ray,trackers]' 'wandb<0.30'
	touch $@

# The suite on every core (pytest-xdist), each test file on one worker so that what its tests share
# (a Ray head, reference kernels) is built once; `make test-fast` leaves out the tests marked slow.
PYTEST_WORKERS := -n auto --dist loadfile

# The tests that must hold on every stack (pytest -m parity), without Ray.
$(VENV)/.parity-installed: $(VENV)/.installed
	$(BIN)/pip install --quiet -c $(CONSTRAINTS) -e '.[test]'
	touch $@

parity: $(VENV)/.parity-installed data
	$(BIN)/python -m pytest -m parity -p no:cacheprovider $(PYTEST_WORKERS)

# The out-of-tree plugin packages in registry/ are installed too (they are third-party plugins;
# ntkbench never imports them), so that their tests and the specs that use them run.

# Debian's dataset-fashion-mnist puts the official files in /usr/share/datasets/fashion-mnist/.
# Without apt (or root), ntkbench downloads the files itself on first use.
data:
	@if [ -d /usr/share/datasets/fashion-mnist ]; then \
		echo "Fashion-MNIST: using /usr/share/datasets/fashion-mnist"; \
	elif command -v apt-get >/dev/null 2>&1; then \
		sudo=""; [ "$$(id -u)" = 0 ] || sudo="sudo"; \
		$$sudo apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1 \
		|| { $$sudo apt-get update -qq && $$sudo apt-get install -y -qq dataset-fashion-mnist; } \
		|| echo "warning: could not install dataset-fashion-mnist; ntkbench will download Fashion-MNIST on first use"; \
	else \
		echo "apt-get not available: ntkbench will download Fashion-MNIST on first use"; \
	fi

# Dataset files for a machine without internet (a lent accelerator): Debian's Fashion-MNIST copied
# into .gpu-data/ (ignored by git) as $$NTKBENCH_DATA lays them out; scripts/gpu-check reads them there.
gpu-data: data
	mkdir -p .gpu-data/fashion_mnist
	cp /usr/share/datasets/fashion-mnist/*.gz .gpu-data/fashion_mnist/

# The demo computes into runs/ and renders runs/fashion_mlp/leaderboard.md; it never touches the
# published results (`make publish` copies a finished demo run there and re-renders the leaderboard).
demo: install data
	$(BIN)/ntkbench run $(DEMO_SPEC) --out $(DEMO_RUN)

publish: install
	rm -rf $(PUBLISHED) && mkdir -p $(PUBLISHED)
	cp -r $(DEMO_RUN)/spec.json $(DEMO_RUN)/records $(PUBLISHED)/
	$(MAKE) leaderboard

# Re-render leaderboard/README.md from every results directory under leaderboard/results/.
leaderboard: install
	$(BIN)/ntkbench leaderboard

test: $(VENV)/.test-installed data
	$(BIN)/python -m pytest $(PYTEST_WORKERS)

test-fast: $(VENV)/.test-installed data
	$(BIN)/python -m pytest $(PYTEST_WORKERS) -m "not slow"

# Performance targets (pytest-benchmark): each prints a ratio against a baseline run in the same process.
bench: $(VENV)/.test-installed data
	$(BIN)/python -m pytest benchmarks -s -p no:randomly --benchmark-disable-gc

# The documentation site from docs/ (mkdocs.yml): built into site/ with every warning an error (a
# broken link, a missing reference); `make docs-serve` serves it on http://127.0.0.1:8000 as you edit.
$(VENV)/.docs-installed: $(VENV)/.installed
	$(BIN)/pip install --quiet -c $(CONSTRAINTS) -e '.[docs]'
	touch $@

DOCS_ENV := NO_MKDOCS_2_WARNING=1

docs: $(VENV)/.docs-installed
	$(DOCS_ENV) $(BIN)/mkdocs build --strict

docs-serve: $(VENV)/.docs-installed
	$(DOCS_ENV) $(BIN)/mkdocs serve --strict

clean:
	rm -rf $(VENV) .venv-py3* runs site .pytest_cache .jax-cache *.egg-info
