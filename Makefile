# WorkTool AI Hub — the README's two commands are `make run` and `make test`.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3.11
HOST ?= 0.0.0.0
PORT ?= 8000
export PORT

.PHONY: install run migrate seed worker demo test test-unit lint format bench browser clean train eval

$(VENV)/.installed: pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "需要 Python 3.11（$(PYTHON)）"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

install: $(VENV)/.installed

migrate: install
	$(PY) -m app.cli migrate

seed: migrate
	$(PY) -m app.cli seed-demo

# Without WORKTOOL_API_BASE, commands go to the demo WorkTool sandbox on the hub itself (app/demo/sandbox.py).
SANDBOX_HOST := $(if $(filter 0.0.0.0 ::,$(HOST)),127.0.0.1,$(HOST))
UVICORN_RUN := $(VENV)/bin/uvicorn app.main:app_factory --factory --host $(HOST) --port $(PORT) --loop uvloop --http httptools --no-access-log

run: seed
ifeq ($(strip $(WORKTOOL_API_BASE)),)
	@echo "WorkTool：演示沙箱 / demo sandbox (HUB_DEMO_SANDBOX=1: commands are simulated on this hub, nothing reaches WeCom; set WORKTOOL_API_BASE for a real WorkTool)"
	HUB_DEMO_SANDBOX=1 WORKTOOL_API_BASE=http://$(SANDBOX_HOST):$(PORT)/sandbox/worktool $(UVICORN_RUN)
else
	@echo "WorkTool：真实接口 / real API at $(WORKTOOL_API_BASE) (demo sandbox off)"
	$(UVICORN_RUN)
endif

worker: install
	$(VENV)/bin/arq jobs.worker.WorkerSettings

demo: install
	$(PY) -m app.demo.simulator --base-url http://127.0.0.1:$(PORT)

browser:
	@bash .ci/ensure-browser.sh

test: install browser
	$(PY) -m pytest -q

test-unit: install
	$(PY) -m pytest -q tests/unit

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy app jobs

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: install
	$(PY) bench/run.py

# Rebuild the shipped models from the public review data (../shared/data) and the corpus's train split.
# Staff corrections exported from 消息更正 join the training rows: make train CORRECTIONS="a.jsonl b.csv"
CORRECTIONS_ARGS = $(foreach f,$(CORRECTIONS),--corrections $(f))

train: install
	$(PY) -m app.understanding.training.train_sentiment $(CORRECTIONS_ARGS)
	$(PY) -m app.understanding.training.train_types $(CORRECTIONS_ARGS)
	$(PY) -m app.understanding.training.train_responses

# Held-out evaluation; snownlp is installed for the comparison only, never imported by the hub.
eval: install
	@$(PY) -c "import snownlp" 2>/dev/null || $(PY) -m pip install --quiet 'snownlp==0.12.3'
	@# Every suite runs and reports; the target fails at the end if any missed its targets.
	@status=0; \
	$(PY) -m app.understanding.evaluate || status=1; \
	$(PY) -m app.aftersales.scenarios || status=1; \
	$(PY) -m app.alerts.scenarios || status=1; \
	exit $$status

clean:
	rm -rf $(VENV) var/hub.db* .pytest_cache .mypy_cache .ruff_cache
