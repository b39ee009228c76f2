# Every target creates .venv and installs what it needs on a fresh clone.
# Two stamps: `make demo` installs only the runtime dependencies (seconds), every other target
# the development toolchain (`pip install -e '.[dev]'`, a minute or more).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
RUNTIME_STAMP := $(VENV)/.runtime-installed
export TEST_POSTGRESQL_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test

.PHONY: demo test lint typecheck architecture docs docs-serve pytest bench clean

# The venv starts without pip (ensurepip alone takes seconds): the runtime install uses the pip of
# $(PYTHON) (`pip --python`, pip >= 22.3) when it has one; the dev install puts pip in the venv.
$(BIN)/python:
	$(PYTHON) -m venv --without-pip $(VENV)

# The demo runs hexalchemy from src/ (PYTHONPATH), so it needs no build of the package: only the
# [project] dependencies of pyproject.toml, printed by tools/runtime_requirements.py.
$(RUNTIME_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python tools/runtime_requirements.py > $(VENV)/runtime-requirements.txt
	if $(PYTHON) -m pip --python $(BIN)/python --version >/dev/null 2>&1; then \
	    $(PYTHON) -m pip --python $(BIN)/python install -qq --disable-pip-version-check -r $(VENV)/runtime-requirements.txt; \
	else \
	    $(BIN)/python -m ensurepip >/dev/null && \
	    $(BIN)/python -m pip install -qq --disable-pip-version-check -r $(VENV)/runtime-requirements.txt; \
	fi
	touch $(RUNTIME_STAMP)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip --version >/dev/null 2>&1 || $(BIN)/python -m ensurepip >/dev/null
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(RUNTIME_STAMP)
	PYTHONPATH=src $(BIN)/python -W error examples/demo.py

test: lint typecheck architecture docs pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests examples benchmarks
	$(BIN)/ruff format --check src tests examples benchmarks

# mypy --strict (mypy.ini) and basedpyright ([tool.basedpyright] in pyproject.toml: strict over src,
# examples and tests/typing, standard elsewhere). Both at zero errors, with no baseline, no ignore comment
# and no per-file relaxation.
typecheck: $(STAMP)
	$(BIN)/mypy
	$(BIN)/basedpyright

architecture: $(STAMP)
	$(BIN)/lint-imports

# The documentation site (mkdocs.yml: Material, search, the API reference from the docstrings) into site/;
# --strict: a warning (a broken link or anchor, a page missing from the nav, a docstring griffe cannot
# read) fails the build. NO_MKDOCS_2_WARNING silences Material's end-of-life banner, which is no warning.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

docs-serve: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve

pytest: $(STAMP)
	$(BIN)/pytest -q

# TRACED=1: every job untraced, then with OpenTelemetry's SQLAlchemy instrumentation and hexalchemy's spans.
bench: $(STAMP)
	$(BIN)/python -m benchmarks.run $(if $(TRACED),--traced)

# Rewrite the generated sync code from its async source (unasyncd, [tool.unasyncd] in pyproject.toml).
.PHONY: generate
generate: $(STAMP)
	$(BIN)/python tools/generate_sync.py

clean:
	rm -rf $(VENV) site .mypy_cache .ruff_cache .pytest_cache .hypothesis
