# Two commands for a fresh machine with Python 3.11:
#   make lab    install everything (first time) and open the course in JupyterLab
#   make test   install everything (first time) and run the whole test suite, notebooks included
# Installing is skipped when nothing it depends on changed since the last install.

PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.reclab-installed
# 2 workers on the 2-core CI machine; --dist loadfile keeps each notebook on one worker.
WORKERS ?= 2

.PHONY: install lab test unit notebooks clean

install: $(STAMP)

$(STAMP): requirements.txt requirements-nodeps.txt pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "$(PYTHON) not found: install Python 3.11 or run 'make PYTHON=/path/to/python3.11 ...'"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -r requirements-nodeps.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@$(BIN)/python -c "import matplotlib.pyplot"  # build the font cache now, not inside a notebook output
	@touch $(STAMP)

# Jupyter refuses to run as root unless told; containers often run as root.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root)

lab: $(STAMP)
	$(BIN)/jupyter lab notebooks/ $(ROOT_FLAG) $(LAB_ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest -n $(WORKERS) --dist loadfile --no-loadscope-reorder tests notebooks \
		--nbval --nbval-current-env --nbval-sanitize-with tests/nbval-sanitize.cfg

unit: $(STAMP)
	$(BIN)/python -m pytest -n $(WORKERS) tests

notebooks: $(STAMP)
	$(BIN)/python -m pytest -n $(WORKERS) --dist loadfile --no-loadscope-reorder notebooks \
		--nbval --nbval-current-env --nbval-sanitize-with tests/nbval-sanitize.cfg

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .hypothesis
