# Two commands for a fresh machine with Python 3.11:
#   make lab    install everything (first time) and open the course in JupyterLab
#   make test   install everything (first time) and run the whole test suite, notebooks included
# For instructors:
#   make student      student copies of every notebook in student/ (solutions stubbed, outputs cleared)
#   make assignments  the notebooks as nbgrader assignments in grading/source/ (see grading/README.md)
#   make course       run every student copy top to bottom, and the course in headless Chromium
#   make site         the course as a static website in _site/, every internal link and image checked
# CI runs `make test`, then `make course` and `make site`.
# Installing is skipped when nothing it depends on changed since the last install.

PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.reclab-installed
# uv installs the same pinned wheels as pip does, in a third of the time (measured here: 31 s against
# 103 s for requirements.txt). It does not read pip's configuration, so the find-links folders pip is
# configured with (where a machine may keep, say, the CPU build of torch) are passed on to it.
UV_VERSION := 0.13.9
FIND_LINKS ?= $(or $(PIP_FIND_LINKS),$(shell $(PYTHON) -m pip config get global.find-links 2>/dev/null))
UV_INSTALL = $(BIN)/uv pip install --python $(BIN)/python --quiet $(addprefix --find-links ,$(FIND_LINKS))
# The same numbers on every x86-64 CPU with AVX2: torch, MKL, oneDNN, OpenBLAS, NumPy and faiss pick
# their kernels by CPU, and an AVX-512 machine rounds differently from an AVX2 one, so that trained
# models (and the notebooks' printed results) drift. These pin the AVX2 kernels everywhere: measured
# here, an AVX-512 EPYC then reproduces the outputs made on an AVX2 EPYC exactly (07 and 08 included).
# MKL_CBWR=AVX2 is left out on purpose: it also fixes MKL's reduction order, which then differs
# from what MKL does unasked on an AVX2 machine (08's BERT4Rec trained other weights with it).
# Override any of them on the command line (make test ATEN_CPU_CAPABILITY=default) for the fastest
# kernels, at the price of other last digits.
export ATEN_CPU_CAPABILITY ?= avx2
export MKL_ENABLE_INSTRUCTIONS ?= AVX2
export DNNL_MAX_CPU_ISA ?= AVX2
export OPENBLAS_CORETYPE ?= Haswell
export FAISS_OPT_LEVEL ?= avx2
export NPY_DISABLE_CPU_FEATURES ?= X86_V4 AVX512_ICL AVX512_SPR
# Python compiles each module the first time it is imported and keeps the .pyc beside it, unless
# PYTHONDONTWRITEBYTECODE is set (as on the course's CI machine): then every process compiles
# torch, pandas and the rest again at each import. Precompiling the whole venv at install time
# (uv's --compile-bytecode) took 39 s of the 41 s install for 17,806 files, most of which are
# never imported (test folders, transformers' 200 other models, pip). So the course's commands let
# Python write the .pyc of what they import, once, into .venv/ (and the gitignored __pycache__/).
export PYTHONDONTWRITEBYTECODE :=
# 2 workers on the 2-core CI machine; --dist loadfile keeps each notebook on one worker.
WORKERS ?= 2
# Two workers each run a kernel whose OpenMP threads (torch, MKL) spin while they wait, and the
# spinning starves the other worker: measured here, two SASRec fits side by side took 21.5 s each,
# against 3.7 s alone and 5 s with waiting threads that sleep. Sleeping changes no number (the
# losses agree to the last digit); alone it is slower, so `make lab` keeps OpenMP's default.
test notebooks unit course: export OMP_WAIT_POLICY = PASSIVE

.PHONY: install lab test unit notebooks student assignments course site clean

install: $(STAMP)

$(STAMP): requirements.txt requirements-nodeps.txt pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "$(PYTHON) not found: install Python 3.11 or run 'make PYTHON=/path/to/python3.11 ...'"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet uv==$(UV_VERSION)
	$(UV_INSTALL) -r requirements.txt
	$(UV_INSTALL) --no-deps -r requirements-nodeps.txt
	$(UV_INSTALL) --no-deps -e .
	@$(BIN)/python -c "import matplotlib.pyplot"  # build the font cache now, not inside a notebook output
	$(NBGRADER_UI_OFF)
	@touch $(STAMP)

# nbgrader (for instructors: make assignments, grading/README.md) adds an Nbgrader menu and a Validate
# button to JupyterLab, which learners should not meet: binder/nbgrader-ui-off turns them off in this
# venv, as binder/postBuild does on Binder.
NBGRADER_UI_OFF = PATH="$(CURDIR)/$(BIN):$$PATH" bash binder/nbgrader-ui-off >$(VENV)/nbgrader-ui-off.log 2>&1 \
	|| { cat $(VENV)/nbgrader-ui-off.log; echo "could not turn nbgrader's JupyterLab extensions off"; exit 1; }

# Jupyter refuses to run as root unless told; containers often run as root.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root)

# The server's root is the repository, so that every notebook's "Contents" link (../README.md)
# and the student copies in student/ are inside what it serves; it opens the first notebook.
lab: $(STAMP)
	$(BIN)/jupyter lab notebooks/00-welcome.ipynb --ServerApp.root_dir=. $(ROOT_FLAG) $(LAB_ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest -n $(WORKERS) --dist loadfile --no-loadscope-reorder tests notebooks \
		--ignore=tests/course --nbval --nbval-current-env --nbval-sanitize-with tests/nbval-sanitize.cfg

unit: $(STAMP)
	$(BIN)/python -m pytest -n $(WORKERS) tests --ignore=tests/course

notebooks: $(STAMP)
	$(BIN)/python -m pytest -n $(WORKERS) --dist loadfile --no-loadscope-reorder notebooks \
		--nbval --nbval-current-env --nbval-sanitize-with tests/nbval-sanitize.cfg

student: $(STAMP)
	$(BIN)/python -m reclab.exercises notebooks student $(STUDENT_ARGS)

assignments: $(STAMP)
	$(BIN)/python -m reclab.course notebooks --nbgrader grading $(ASSIGNMENT_ARGS)

# tests/course: every student copy top to bottom (no error output, every checker "not attempted"),
# and JupyterLab in headless Chromium (Debian's /usr/bin/chromium: apt-get install chromium).
course: $(STAMP)
	$(BIN)/python -m pytest -n $(WORKERS) --dist load tests/course --ignore=tests/course/test_browser.py
	$(BIN)/python -m pytest -p no:xdist tests/course/test_browser.py  # one JupyterLab and one Chromium at a time

site: $(STAMP)
	$(BIN)/python -m reclab.site --out _site

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .hypothesis test-artifacts
	test ! -f _site/.reclab-site || rm -rf _site
