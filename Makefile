# Quick start: `make demo` and `make test`. Both create .venv when missing.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo test bench clean-venv teacher-env

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall when the package metadata or the pins change.
$(STAMP): $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/pip install -c constraints.txt -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest tests

demo: $(STAMP)
	$(BIN)/python -m pipnet106.demo

bench: $(STAMP)
	$(BIN)/python benchmarks/prepare.py
	$(BIN)/python benchmarks/train_speed.py
	$(BIN)/python benchmarks/infer_speed.py
	$(BIN)/python -m pipnet106 bench

clean-venv:
	rm -rf $(VENV)

# The MediaPipe teacher pins numpy<2 and protobuf<5: it gets its own environment.
.venv-teacher/.installed: pyproject.toml
	$(PYTHON) -m venv .venv-teacher
	.venv-teacher/bin/pip install "mediapipe==0.10.21" pyyaml tqdm
	.venv-teacher/bin/pip install --no-deps -e .
	touch $@

teacher-env: .venv-teacher/.installed
