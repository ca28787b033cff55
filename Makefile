VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: test install demo bench clean

# Recreated when pyproject.toml changes, so a new dependency is always installed.
$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e '.[test]'
	touch $@

install: $(VENV)/.installed

# pytest exits 5 when it collected no test: that is a broken suite, not a pass.
test: $(VENV)/.installed
	@$(PY) -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests" >&2; exit 1; fi; \
	exit $$rc

# Trains the default recipe (synthetic RGB-D scenes, generated locally) and prints the table.
demo: $(VENV)/.installed
	$(VENV)/bin/cenkeras train synthetic_rgbd --run-dir runs/demo-$$(date +%Y%m%d-%H%M%S)

bench: $(VENV)/.installed
	$(PY) bench/bench_pipeline.py
	$(PY) bench/bench_models.py --precision float32
	$(PY) bench/bench_models.py --precision mixed_bfloat16
	$(PY) bench/bench_export.py --precision float32
	$(PY) bench/bench_export.py --precision mixed_bfloat16

clean:
	rm -rf build dist *.egg-info .pytest_cache
