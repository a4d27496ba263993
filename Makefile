# Quick start: `make demo` and `make test`, in either order; both create .venv when missing.
# `make demo` installs the runtime only (onnxruntime, OpenCV, NumPy: about 370 MB, no torch);
# `make test` adds everything the suite needs (torch, onnx, matplotlib, pytest) to the same .venv.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
RUNTIME_STAMP := $(VENV)/.installed-runtime
FULL_STAMP    := $(VENV)/.installed
MIN_VENV      := .venv-min
MIN_STAMP     := $(MIN_VENV)/.installed
DOCS_STAMP    := $(VENV)/.installed-docs

.PHONY: install demo test test-min test-mobile test-web docs bench clean-venv teacher-env starter

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall when the package metadata or the pins change.
$(RUNTIME_STAMP): $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/pip install -c constraints.txt -e ".[onnx]"
	touch $@

$(FULL_STAMP): $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/pip install -c constraints.txt -e ".[test]"
	touch $@ $(RUNTIME_STAMP)

install: $(FULL_STAMP)

test: $(FULL_STAMP)
	$(BIN)/python -m pytest tests

demo: $(RUNTIME_STAMP)
	$(BIN)/python -m pipnet106.cli.demo

# The lowest allowed versions of the light dependencies (constraints-min.txt), no torch: the
# torch-free part of the suite (tests needing torch skip themselves, see tests/conftest.py).
$(MIN_STAMP): pyproject.toml constraints-min.txt
	rm -rf $(MIN_VENV)
	$(PYTHON) -m venv $(MIN_VENV)
	$(MIN_VENV)/bin/pip install -c constraints-min.txt -e ".[onnx]" onnx pytest
	touch $@

test-min: $(MIN_STAMP)
	$(MIN_VENV)/bin/python -m pytest tests -p no:cacheprovider

# The phone runtimes (docs/deploy-mobile.md): their converters and interpreters (the extra `mobile`,
# exact pins in constraints-mobile.txt) in .venv-mobile, on top of .venv: a .pth line there makes
# .venv's packages (torch, onnxruntime, pytest) visible, so torch is not installed twice. Then the tests
# that need them: tests/deploy/test_mobile.py (`make test` collects it too and skips its converter tests).
MOBILE_VENV  := .venv-mobile
MOBILE_STAMP := $(MOBILE_VENV)/.installed
PURELIB      := import sysconfig; print(sysconfig.get_paths()["purelib"])
$(MOBILE_STAMP): $(FULL_STAMP) pyproject.toml constraints.txt constraints-mobile.txt
	rm -rf $(MOBILE_VENV)
	$(PYTHON) -m venv $(MOBILE_VENV)
	$(BIN)/python -c '$(PURELIB)' > "$$($(MOBILE_VENV)/bin/python -c '$(PURELIB)')/zz_base_venv.pth"
	$(MOBILE_VENV)/bin/pip install -c constraints.txt -c constraints-mobile.txt -e ".[mobile]"
	touch $@

test-mobile: $(MOBILE_STAMP)
	$(MOBILE_VENV)/bin/python -m pytest tests/deploy/test_mobile.py -p no:cacheprovider

# The browser page (web/, docs/deploy-web.md): npm ci from web/package-lock.json, build, serve on
# localhost, test in Debian's headless Chromium against this package's own answers (needs the runtime
# .venv for `pipnet106 predict/retouch`); writes benchmarks/results/web_speed.json. Without Chromium
# (apt-get install -y chromium) or npm it says so and skips.
CHROMIUM ?= /usr/bin/chromium
test-web: $(RUNTIME_STAMP)
	@if [ ! -x "$(CHROMIUM)" ]; then echo "test-web: SKIP: no Chromium at $(CHROMIUM) (apt-get install -y chromium)"; \
	elif ! command -v npm >/dev/null; then echo "test-web: SKIP: no npm (apt-get install -y npm)"; \
	else cd web && npm ci --no-audit --no-fund && node scripts/test-web.mjs --python ../$(BIN)/python --chromium "$(CHROMIUM)"; fi

# The documentation site (mkdocs.yml, docs/): the docs extra into .venv, then a strict build into
# site/ (a broken link, a missing page or a page left out of the nav fails it).
$(DOCS_STAMP): $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/pip install -c constraints.txt -e ".[docs]"
	touch $@

docs: $(DOCS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

bench: $(FULL_STAMP)
	$(BIN)/python benchmarks/prepare.py
	$(BIN)/python benchmarks/train_speed.py
	$(BIN)/python benchmarks/infer_speed.py
	$(BIN)/python -m pipnet106 bench

clean-venv:
	rm -rf $(VENV) $(MIN_VENV) $(MOBILE_VENV)

# The MediaPipe teacher pins numpy<2 and protobuf<5: it gets its own environment.
.venv-teacher/.installed: pyproject.toml
	$(PYTHON) -m venv .venv-teacher
	.venv-teacher/bin/pip install "mediapipe==0.10.21" pyyaml tqdm
	.venv-teacher/bin/pip install --no-deps -e .
	touch $@

teacher-env: .venv-teacher/.installed

# Your own starter model from your own unlabelled photos (no research-only weights involved):
#   make starter SRC=photos/ [OUT=my_starter]
# teacher labels -> prepare -> train from scratch -> eval -> ONNX. Re-running continues where it stopped.
OUT ?= my_starter
starter: teacher-env $(FULL_STAMP)
	@test -n "$(SRC)" || { echo "usage: make starter SRC=photos/ [OUT=my_starter]"; exit 2; }
	$(BIN)/pipnet106 autolabel "$(SRC)" --out "$(OUT)/labels" --resume || test $$? -eq 1
	test -f "$(OUT)/data/manifest.json" || $(BIN)/pipnet106 prepare "$(SRC)" --labels-dir "$(OUT)/labels/labels" \
		--out "$(OUT)/data" --crop face --size 128 || test $$? -eq 1
	if [ -f "$(OUT)/run/last.pt" ]; then $(BIN)/pipnet106 train --resume "$(OUT)/run"; \
	else $(BIN)/pipnet106 train --config configs/starter_own.yaml --data "$(OUT)/data" --out "$(OUT)/run"; fi
	$(BIN)/pipnet106 eval --weights "$(OUT)/run/best.pt" --data "$(OUT)/data" --out "$(OUT)/eval"
	$(BIN)/pipnet106 export --weights "$(OUT)/run/best.pt" --out "$(OUT)/starter.onnx"
	@echo "your starter: $(OUT)/starter.onnx  (pipnet106 predict photo.jpg --weights $(OUT)/starter.onnx)"
