# Two commands on a fresh machine: `make demo` and `make test`. Both install what they need.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STACK ?= dev
INSTALLED := $(VENV)/.installed

PACKAGE := src/gpu_inference_platform
MODEL_SOURCES := $(shell find model_repo -type f -not -path '*/__pycache__/*') $(wildcard $(PACKAGE)/ops/modelbuild/*.py) $(PACKAGE)/components/model_manifest.py $(PACKAGE)/components/tensorrt_engines.py
STACKS := $(patsubst Pulumi.%.yaml,%,$(wildcard Pulumi.*.yaml))
MODEL_BUILDS := build/models/cpu/manifest.json $(foreach s,$(STACKS),build/models/$(s)/manifest.json)

.PHONY: setup demo test lint preview models clean

setup: $(INSTALLED)

# Servable repositories: cpu (served locally) and one gpu build per stack (its engine targets).
models: $(MODEL_BUILDS)

build/models/cpu/manifest.json: $(MODEL_SOURCES) | $(INSTALLED)
	$(PY) -m scripts.build_models --target cpu --out build/models/cpu

build/models/%/manifest.json: Pulumi.%.yaml $(MODEL_SOURCES) | $(INSTALLED)
	$(PY) -m scripts.build_models --target gpu --stack $* --out build/models/$*

$(INSTALLED): requirements.txt requirements-dev.txt constraints.txt policy/requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -r policy/requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation --editable .
	touch $@

demo: setup models
	$(PY) -m scripts.demo

test: setup models
	$(PY) -m pytest -q -n 2

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

preview: setup models
	$(PY) -m scripts.preview $(STACK) --json build/preview-$(STACK).json --render-k8s build/k8s/$(STACK)

clean:
	rm -rf build
