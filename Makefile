# Fresh-machine entry points. Every target is idempotent; `install` re-syncs only when a lock changed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install serve test test-fast lock lint bench docker clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(BIN)/uv: | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

$(VENV)/.installed: requirements-dev.lock pyproject.toml | $(BIN)/uv
	$(BIN)/uv pip sync --python $(BIN)/python --require-hashes requirements-dev.lock
	$(BIN)/uv pip install --python $(BIN)/python --no-deps -e .
	touch $@

install: $(VENV)/.installed

serve: install
	$(BIN)/cosmic-works serve --host $(HOST) --port $(PORT)

test: install
	$(BIN)/python -m pytest -q

test-fast: install
	$(BIN)/python -m pytest -q -m "not slow"

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: install
	$(BIN)/python benchmarks/suite.py

# The container image (Dockerfile). Needs a running Docker engine; says so and fails without one.
IMAGE ?= cosmic-works-agent
docker:
	@if ! command -v docker >/dev/null 2>&1 || ! docker info >/dev/null 2>&1; then \
		echo "make docker: no Docker engine is reachable (docker info failed); start Docker, or build elsewhere (az acr build -t $(IMAGE) .)" >&2; \
		exit 1; \
	fi
	docker build -t $(IMAGE) .

# Re-resolve the pinned locks (needs uv; takes seconds). Commit both files afterwards.
lock: | $(BIN)/uv
	$(BIN)/uv pip compile --python-version 3.11 --generate-hashes --no-header \
		--override requirements/overrides.txt requirements/runtime.in -o requirements.lock
	$(BIN)/uv pip compile --python-version 3.11 --generate-hashes --no-header \
		--override requirements/overrides.txt requirements/dev.in -o requirements-dev.lock

clean:
	rm -rf $(VENV) .data .pytest_cache
