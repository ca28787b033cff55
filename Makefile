VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
PYTEST_ARGS ?=
# Test processes (pytest-xdist): one per core; 0 runs the suite in this process.
PYTEST_WORKERS ?= auto

.PHONY: test test-fast lint install demo docs bench clean

# Recreated when pyproject.toml changes, so a new dependency is always installed.
$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e '.[test,docs]'
	touch $@

install: $(VENV)/.installed

# Lint and formatting first (ruff, settings in pyproject.toml), then the suite with the doctests.
lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# pytest exits 5 when it collected no test: that is a broken suite, not a pass. Each test module
# runs in one process (--dist loadscope), so a module's shared trained run is made once.
PYTEST := $(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadscope
define run_pytest
	@$(PYTEST) $(1) $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests" >&2; exit 1; fi; \
	exit $$rc
endef

# The whole suite (what CI runs).
test: lint
	$(call run_pytest,)

# Everything but the tests marked slow (training, exports, console scripts end to end, full-size
# models): a few minutes, for while you iterate.
test-fast: lint
	$(call run_pytest,-m "not slow")

# The documentation site into build/site, in strict mode: a broken link, a missing anchor or an
# API reference that does not resolve fails the build. The recipe key page is generated from the
# schema as it builds (docs/hooks/recipe_keys.py).
docs: $(VENV)/.installed
	NO_MKDOCS_2_WARNING=1 TF_CPP_MIN_LOG_LEVEL=3 $(VENV)/bin/mkdocs build --strict --quiet

# Trains the default recipe (synthetic RGB-D scenes, generated locally) and prints the table. Its
# own environment with the package alone, as a user installs it (not the test extra's torch,
# ONNX, OpenVINO and LiteRT).
DEMO_VENV ?= .venv-demo
$(DEMO_VENV)/.installed: pyproject.toml
	test -x $(DEMO_VENV)/bin/python || $(PYTHON) -m venv $(DEMO_VENV)
	$(DEMO_VENV)/bin/python -m pip install --upgrade pip
	$(DEMO_VENV)/bin/python -m pip install -e .
	touch $@

demo: $(DEMO_VENV)/.installed
	$(DEMO_VENV)/bin/cenkeras train synthetic_rgbd --run-dir runs/demo-$$(date +%Y%m%d-%H%M%S)

# The models' table (~15 min on 2 cores; with OFFICIAL_CEN=/path/to/a/checkout/of/yikaiw/CEN the
# official PyTorch code is measured beside it in the same run, ~35 min), then inference in every
# export runtime (~20 min); BENCH_ARGS=--quick for a short run of both.
BENCH_ARGS ?=
OFFICIAL_CEN ?=
bench: $(VENV)/.installed
	$(PY) bench/bench_models.py $(if $(OFFICIAL_CEN),--official $(OFFICIAL_CEN)) $(BENCH_ARGS)
	$(PY) bench/bench_runtimes.py $(BENCH_ARGS)

clean:
	rm -rf build dist *.egg-info .pytest_cache
