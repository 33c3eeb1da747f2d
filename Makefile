# Two commands do everything: `make decks` builds the decks, `make test` runs the tests.
# Each sets up its own virtual environment in .venv on first use.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: decks test lint bench bench-push clean

# `check` first: its warnings are shown, and its errors (which the build refuses too) stop here.
decks: $(VENV)/.installed
	$(BIN)/decks check
	$(BIN)/decks build

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed-test
	$(BIN)/ruff check builder tests benchmarks
	$(BIN)/ruff format --check builder tests benchmarks

bench: $(VENV)/.installed
	$(BIN)/python benchmarks/bench_build.py $(BENCH_ARGS)

# decks push into real Anki desktop (test extras: aqt, and the AnkiConnect add-on) against Anki's own import.
bench-push: $(VENV)/.installed-test
	$(BIN)/python benchmarks/bench_push.py $(BENCH_ARGS)

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@

# Build products only: decks.lock is the project's build state, committed with the cards, and stays.
clean:
	rm -rf $(VENV) output/*.apkg output/.decks-cache.json output/.decks-nochange.json output/.decks-push-check.json output/.decks-build.json output/preview output/*.png
