# Thin wrappers; the work lives in hack/, operator/ and tests/.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: help venv control-plane helm lint crds test unit integration demo run bench clean

help:
	@echo "make demo   start a local API server + AWS emulator, run Gantry, apply examples/"
	@echo "make test   install, build the control plane if missing, lint, type-check, test"
	@echo "make run    run Gantry against the current KUBECONFIG and real AWS credentials"
	@echo "make crds   regenerate crds/ from the models"

$(STAMP):
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

venv: $(STAMP)

control-plane:
	@if [ -n "$$KUBEBUILDER_ASSETS" ]; then \
		echo "control-plane: using KUBEBUILDER_ASSETS=$$KUBEBUILDER_ASSETS"; \
	else \
		bash hack/build-control-plane.sh >/dev/null; \
	fi

# Only the chart tests need helm; set HELM to use one you have.
helm:
	@bash hack/build-helm.sh >/dev/null

lint: venv
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy operator hack/devstack
	$(VENV)/bin/lint-imports

crds: venv
	$(VENV)/bin/gantry crds --out crds
	$(PY) hack/sync-chart.py

unit: venv
	$(PY) -m pytest tests/unit

integration: venv control-plane helm
	$(PY) -m pytest tests/integration

test: venv control-plane helm lint
	$(PY) -m pytest

demo: venv control-plane
	PYTHONPATH=hack $(PY) -m devstack.demo

run: venv
	$(VENV)/bin/gantry run --all-namespaces

bench: venv control-plane
	PYTHONPATH=hack:tests $(PY) -m bench.run

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
