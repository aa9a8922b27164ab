# agenttune: `make demo` runs the whole pipeline offline on CPU; `make test` runs the test suite.
# Both install into .venv first when needed.
#   TORCH_SPEC  the torch requirement installed before everything else (GPU users: e.g. torch==2.13.0 from
#               the CUDA index via PIP_EXTRA_INDEX_URL); the CPU default avoids pulling a multi-GB CUDA build.
#   PYTHON      the interpreter that creates the venv (3.11).
#   ARGS        extra key=value overrides for `make demo`, e.g. ARGS="train.steps=4".
#   VENV        where the virtual environment goes (the Dockerfile puts it outside the source tree).
#   EXTRAS      the project's extras to install (dev: the test tools; the Dockerfile: none, or vllm on GPU nodes).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
TORCH_SPEC ?= torch==2.13.0
VENV ?= .venv
EXTRAS ?= dev
BIN := $(VENV)/bin
STAMP := $(VENV)/.agenttune-installed
PYTEST_ARGS ?=

.PHONY: install demo ablation test lint format clean help

help:
	@echo "make demo     install if needed, run the offline demo pipeline (runs/demo)"
	@echo "make ablation install if needed, run the paper's eta ablation on CPU (runs/ablation-tiny)"
	@echo "make test     install if needed, lint, run the test suite"
	@echo "make install  create .venv and install agenttune with its dependencies"
	@echo "make lint     ruff check + format check"

install: $(STAMP)

$(STAMP): pyproject.toml
	@command -v bwrap >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing bubblewrap (the sandbox for agent commands)"; \
	    apt-get update -qq && apt-get install -y -qq bubblewrap >/dev/null; \
	  else \
	    echo "WARNING: bubblewrap is missing; the OS env needs it: sudo apt-get install bubblewrap (or your distro's package)"; \
	  fi; }
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "agenttune needs Python 3.11: set PYTHON=/path/to/python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip wheel setuptools
	$(BIN)/pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/pip install --quiet -e ".$(if $(EXTRAS),[$(EXTRAS)],)"
	@touch $(STAMP)
	@echo "agenttune installed in $(VENV) (activate with: source $(BIN)/activate)"

demo: install
	$(BIN)/agenttune pipeline cluster/configs/demo.yaml $(ARGS)

ablation: install
	$(BIN)/agenttune sweep cluster/configs/ablation-tiny.yaml --json $(ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test: install lint
	$(BIN)/pytest $(PYTEST_ARGS)

clean:
	rm -rf runs .pytest_cache .ruff_cache
