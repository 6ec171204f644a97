# Two commands on a fresh machine: `make demo` and `make test`. Both install what they need.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STACK ?= dev
INSTALLED := $(VENV)/.installed

PACKAGE := src/gpu_inference_platform
MODEL_SOURCES := $(shell find model_repo -type f -not -path '*/__pycache__/*') $(wildcard $(PACKAGE)/ops/modelbuild/*.py) $(PACKAGE)/components/model_manifest.py $(PACKAGE)/components/tensorrt_engines.py $(PACKAGE)/ops/model_config.py
STACKS := $(patsubst Pulumi.%.yaml,%,$(wildcard Pulumi.*.yaml))
MODEL_BUILDS := build/models/cpu/manifest.json $(foreach s,$(STACKS),build/models/$(s)/manifest.json)

SCAN_VENV := .venv-checkov
CHECKOV := $(SCAN_VENV)/bin/checkov

.PHONY: setup demo test lint preview models scan clean

setup: $(INSTALLED)

# Servable repositories: cpu (served locally) and one gpu build per stack (its engine targets).
models: $(MODEL_BUILDS)

build/models/cpu/manifest.json: $(MODEL_SOURCES) | $(INSTALLED)
	$(PY) -m scripts.build_models --target cpu --out build/models/cpu

build/models/%/manifest.json: Pulumi.%.yaml $(MODEL_SOURCES) | $(INSTALLED)
	$(PY) -m scripts.build_models --target gpu --stack $* --out build/models/$*

$(INSTALLED): requirements.txt requirements-dev.txt requirements-nodeps.txt constraints.txt policy/requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -r policy/requirements.txt -r requirements-nodeps.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation --editable .
	touch $@

# checkov in its own virtualenv (its dependencies clash with the lock) over every stack's rendered Kubernetes objects.
$(CHECKOV): requirements-scan.txt
	$(PYTHON) -m venv $(SCAN_VENV)
	$(SCAN_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-scan.txt
	touch $@

scan: setup models $(CHECKOV)
	rm -rf build/k8s
	for stack in $(STACKS); do $(PY) -m scripts.preview $$stack --render-k8s build/k8s/$$stack > build/scan-preview-$$stack.txt || exit 1; done
	$(CHECKOV) --config-file policy/checkov.yaml --directory build/k8s

demo: setup models
	$(PY) -m scripts.demo

test: setup models scan
	$(PY) -m pytest -q -n 2

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

preview: setup models
	$(PY) -m scripts.preview $(STACK) --json build/preview-$(STACK).json --render-k8s build/k8s/$(STACK)

clean:
	rm -rf build $(SCAN_VENV)
