# Two commands on a fresh machine: `make run` and `make test`. Both create .venv as needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CONFIG ?= config.example.yaml
# As in the Docker image: glibc's mmap threshold pinned (docs/operations.md, "Memory allocator").
GLIBC_TUNABLES ?= glibc.malloc.mmap_threshold=524288:glibc.malloc.trim_threshold=1048576

.PHONY: install run test check bench clean

# The same steps as the Dockerfile: a virtual environment, then the package installed into it.
$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet .

$(VENV)/.dev: pyproject.toml $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

tests/interop/node_modules/.ready: tests/interop/package-lock.json
	npm ci --prefix tests/interop --no-audit --no-fund --loglevel=error
	touch $@

run: install
	GLIBC_TUNABLES=$(GLIBC_TUNABLES) $(BIN)/ocpp-gateway run --config $(CONFIG)

check: install
	$(BIN)/ocpp-gateway check --config $(CONFIG)

test: $(VENV)/.dev tests/interop/node_modules/.ready
	$(BIN)/ruff check gateway tests bench
	$(BIN)/mypy
	$(BIN)/pytest

bench: $(VENV)/.dev
	$(BIN)/python bench/compare.py --scenario passthrough16

clean:
	rm -rf $(VENV) tests/interop/node_modules build *.egg-info
