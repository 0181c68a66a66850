# `make demo` and `make test` work on a fresh machine: each creates .venv and installs first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
BACKENDS ?= jax tensorflow torch
PYTEST_ARGS ?=

.PHONY: install demo test lint format benchmark

$(VENV)/.installed: pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[jax,tensorflow,torch,dev]"
	# keras-hub (tests only: KerasHub presets in both directions) without its dependencies:
	# it asks for tensorflow-text, which pins another tensorflow; what it imports is here.
	$(PY) -m pip install -q --no-deps "keras-hub==0.32.0"
	touch $@

install: $(VENV)/.installed

# The demo needs only its own backend, so a fresh machine installs that one extra (about a
# minute) rather than all three.
DEMO_BACKEND ?= jax
$(VENV)/.demo-$(DEMO_BACKEND): pyproject.toml
	[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[$(DEMO_BACKEND)]"
	touch $@

demo: $(VENV)/.demo-$(DEMO_BACKEND)
	KERAS_BACKEND=$(DEMO_BACKEND) $(VENV)/bin/keras-models demo --backend $(DEMO_BACKEND)

lint: install
	$(VENV)/bin/ruff check keras_models tests benchmarks guides
	$(VENV)/bin/ruff format --check keras_models tests benchmarks guides

# The whole suite once per backend, one process each; doctests (docstring examples) on jax.
test: install lint
	@set -e; for backend in $(BACKENDS); do \
		echo "=== KERAS_BACKEND=$$backend"; \
		extra=""; [ "$$backend" = jax ] && extra="--doctest-modules keras_models"; \
		KERAS_BACKEND=$$backend $(PY) -m pytest -p no:cacheprovider -n 2 --dist loadfile tests $$extra $(PYTEST_ARGS); \
	done

format: install
	$(VENV)/bin/ruff check --fix keras_models tests benchmarks guides
	$(VENV)/bin/ruff format keras_models tests benchmarks guides

benchmark: install
	$(PY) -m pip install -q -e ".[bench]"
	$(PY) -m benchmarks.run
