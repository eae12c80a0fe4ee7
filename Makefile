# Two commands for a fresh clone: `make run` and `make test`. The venv is built once; the stamp file
# makes later calls skip the install (seconds, not a minute) until pyproject.toml or constraints change.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.rvosbench-installed
PYTEST_ARGS ?=
# Cells trained side by side by `make run` (one process of cores/JOBS threads each): on CPU this beats
# data-parallel processes for the small default model (docs/engine.md); results do not depend on it.
JOBS ?= 2

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export PYTHONUNBUFFERED := 1

.PHONY: run test bench install clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -c constraints.txt -e ".[dev]"
	@touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/rvosbench run ablations/jsc.yaml --jobs $(JOBS)

test: $(STAMP)
	$(PY) -m pytest -n 2 --dist loadfile -q $(PYTEST_ARGS)

bench: $(STAMP)
	$(VENV)/bin/rvosbench bench metrics
	$(VENV)/bin/rvosbench bench scoring --workers 2
	$(VENV)/bin/rvosbench bench data
	$(VENV)/bin/rvosbench bench model models/proxyformer_tiny.yaml --threads 1
	$(VENV)/bin/rvosbench bench attention --threads 1

clean:
	rm -rf $(VENV) .pytest_cache runs reports/out
