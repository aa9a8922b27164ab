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

.PHONY: install os-image demo ablation test lint format clean help

help:
	@echo "make demo     install if needed, run the offline demo pipeline (runs/demo)"
	@echo "make ablation install if needed, run the paper's eta ablation on CPU (runs/ablation-tiny)"
	@echo "make test     install if needed, lint, run the test suite"
	@echo "make install  create .venv and install agenttune with its dependencies (and, as root, the OS env's task image)"
	@echo "make os-image build the OS env's task image if missing (root, mmdebstrap, a Debian mirror; ~1 min)"
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
	@# Best effort: the OS env falls back to the host's directories (with a warning) when the image is missing,
	@# so an offline or unprivileged install never fails here; `make os-image` tries again.
	@$(MAKE) --no-print-directory os-image || echo "WARNING: the OS env's task image was not built; run \`make os-image\` (root, network to a Debian mirror)"

# The OS env's task image (envs/sandbox/image.py): a Debian root filesystem from mmdebstrap, under
# $$AGENTTUNE_DATA_DIR/os-image (default /var/cache/agenttune/os-image as root). OS_IMAGE_ARGS: e.g. --mirror URL.
OS_IMAGE_ARGS ?=
os-image:
	@command -v mmdebstrap >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing mmdebstrap (builds the OS env's task image)"; \
	    apt-get update -qq && apt-get install -y -qq mmdebstrap >/dev/null; \
	  fi; }
	$(BIN)/python -c 'import sys; from envs.sandbox.image import main; sys.exit(main(sys.argv[1:]))' build --if-missing $(OS_IMAGE_ARGS)

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
