# Parlor: `make run` to try it, `make test` to check it. Only Python 3.11+ is needed.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install install-dev run scale-up test test-scale test-faults test-browser lint fmt migrations-check bench soak messages clean

# Two stamps: `make run` installs only what serving needs; the other targets add the test and
# dev extras (pytest, Playwright, ruff, mypy) on top. Each is redone when pyproject.toml changes.
$(VENV)/.installed-run: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed-run pyproject.toml
	$(PY) -m pip install --quiet -e '.[test,dev]'
	touch $@

install: $(VENV)/.installed-run

install-dev: $(VENV)/.installed-dev

# DEMO_GATEWAY_PORT (and any other setting) may be given here too: make run DEMO_GATEWAY_PORT=8799
run: install
	$(PY) manage.py serve --host $(HOST) --port $(PORT)

# Scale mode on this machine: two web processes behind a small proxy, two media workers, the
# demo gateway, on PostgreSQL and Redis (DATABASE_URL / REDIS_URL, else the local ones).
# Ctrl+C stops them all. See benchmarks/scale.py.
scale-up: install
	$(PY) benchmarks/scale.py --port $(PORT)

# The suite runs on every core (pytest-xdist; WORKERS=0 runs it in one process).
WORKERS ?= auto

test: install-dev
	$(PY) -m pytest -q -n $(WORKERS)

# The same suite in scale mode: PostgreSQL and Redis (see .ci/run).
test-scale: install-dev
	DATABASE_URL=$${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test} \
	REDIS_URL=$${REDIS_URL:-redis://127.0.0.1:6379/0} \
	$(PY) -m pytest -q -n $(WORKERS)

# Kills parts of a running scale-mode stack (its own PostgreSQL and Redis, never the machine's)
# and measures the recovery: tests/faults.
test-faults: install-dev
	$(PY) -m pytest -q -s -m faults tests/faults

# Two Chromiums at once, a test module each (each module has its own server): the tests
# mostly wait on streams and jobs, so the second halves the time.
BROWSER_WORKERS ?= 2

test-browser: install-dev
	$(PY) -m pytest -q -m browser -n $(BROWSER_WORKERS) --dist loadfile tests/browser

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .

fmt: install-dev
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

migrations-check: install-dev
	$(PY) manage.py makemigrations --check --dry-run

bench: install-dev
	$(PY) benchmarks/stream_relay.py
	$(PY) benchmarks/stream_relay.py --ramp 1 --tokens 200 --json benchmarks/results/ramped.json
	$(PY) benchmarks/render_live.py
	$(PY) benchmarks/poller.py
	$(PY) benchmarks/search_meaning.py
	$(PY) benchmarks/speech_first_audio.py

# Minutes of chat and jobs on two web processes and two workers (PostgreSQL + Redis, as test-scale).
soak: install-dev
	$(PY) benchmarks/soak.py

messages: install-dev
	$(PY) manage.py makemessages -l zh_Hans --ignore '.venv/*' --ignore 'data/*'
	$(PY) manage.py compilemessages --ignore '.venv/*'

clean:
	rm -rf $(VENV) build *.egg-info
