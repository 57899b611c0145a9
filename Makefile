# Atelier — the README's commands. `make run` and `make test` set everything up on a fresh machine: `make run` the
# runtime set of packages alone (requirements/runtime.txt, npm's dependencies), `make test` the test tools as well.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := .make
export FLASK_APP := wsgi
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: run test bench lint setup setup-test lock assets translations db demo jobs i18n-extract i18n-update check-system clean

run: setup db demo
	$(BIN)/python serve.py

# The suite runs on every core (at most 4 workers), each worker with its own PostgreSQL, Redis, SMTP sink and
# browser; a worker that runs out of tests takes some queued on a busy one (worksteal). One worker more than the
# cores was slower (2 cores: 976 s against 927 s: the browser tests are CPU-bound). TEST_WORKERS=0 runs it in
# this one process.
TEST_WORKERS ?= auto
test: setup-test check-system
	$(BIN)/python -m pytest --numprocesses=$(TEST_WORKERS) --maxprocesses=4 --dist=worksteal $(PYTEST_ARGS)

bench: setup $(STAMP)/venv-test check-system
	@ls bench/*.py >/dev/null 2>&1 && for b in bench/*.py; do case $$b in bench/common.py|bench/*_app.py) continue;; esac; \
	  echo "== $$b"; $(BIN)/python $$b || exit 1; done \
	  || echo "no benchmark yet"

lint: $(STAMP)/venv-test
	$(BIN)/ruff check .

# What `make run` needs; setup-test adds what the tests need.
setup: $(STAMP)/venv-runtime $(STAMP)/assets translations
setup-test: setup $(STAMP)/venv-test $(STAMP)/assets-test

# The Python packages, from the two locks `make lock` writes: requirements/runtime.txt, and requirements/test.txt,
# the same versions plus the test tools, so that adding it changes no runtime package. Every line carries the hashes
# of its files: pip refuses a file that is not one of them, and any dependency the lock lacks (it resolves the set
# and stops on a package the file does not pin with hashes). The project itself follows without its dependencies
# (pip refuses an editable requirement in hash-checking mode); pip check then names any dependency pyproject.toml
# declares that the lock lacks (`make lock` forgotten).
$(STAMP)/venv-runtime: pyproject.toml requirements/runtime.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python 3.11 or newer is needed"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements/runtime.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	$(BIN)/python -m pip check
	@mkdir -p $(STAMP) && touch $@

$(STAMP)/venv-test: $(STAMP)/venv-runtime requirements/test.txt
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements/test.txt
	$(BIN)/python -m pip check
	@mkdir -p $(STAMP) && touch $@

# Regenerates both locks from pyproject.toml with pip-tools (in a virtualenv of its own, not in .venv), keeping every
# pin that still fits its range. `make lock UPGRADE=flask` (or UPGRADE="flask ruff") moves those packages to their
# newest versions within pyproject.toml's ranges, UPGRADE=all every package. Each file's header gives its command.
PIP_TOOLS := $(STAMP)/pip-tools
PIP_COMPILE := $(PIP_TOOLS)/bin/pip-compile --quiet --generate-hashes --strip-extras --no-emit-index-url \
  --no-emit-find-links --no-emit-trusted-host
# --upgrade-package for each of UPGRADE that the lock $(1) pins already: pip-compile would add any other one to it.
lock_upgrades = $(if $(filter all,$(UPGRADE)),--upgrade,$(foreach p,$(UPGRADE),\
  $(if $(shell grep -iq '^$(subst _,-,$(subst .,-,$(p)))==' $(1) && echo y),--upgrade-package $(p))))
lock:
	test -x $(PIP_TOOLS)/bin/pip-compile || { $(PYTHON) -m venv $(PIP_TOOLS) \
	  && $(PIP_TOOLS)/bin/pip install --quiet 'pip-tools==7.7.0'; }
	$(PIP_COMPILE) $(call lock_upgrades,requirements/runtime.txt) --output-file=requirements/runtime.txt pyproject.toml
	$(PIP_COMPILE) $(call lock_upgrades,requirements/test.txt) --extra=test --constraint=requirements/runtime.txt \
	  --output-file=requirements/test.txt pyproject.toml

# --ignore-scripts: vnu-jar's postinstall would download a Java runtime from GitHub where none is installed; the
# tests use Debian's default-jre-headless (.ci/run installs it), and no other package has an install script.
# `make run` installs only the packages whose files it serves (--omit=dev); setup-test adds the dev ones, vnu-jar the
# HTML checker: npm ci starts again from an empty node_modules, and the tests' run installs everything.
$(STAMP)/assets: package.json package-lock.json scripts/build-assets.mjs
	@command -v npm >/dev/null || { echo "npm is needed (Debian package: npm)"; exit 1; }
	npm ci --omit=dev --no-audit --no-fund --loglevel=error --ignore-scripts
	node scripts/build-assets.mjs
	@mkdir -p $(STAMP) && touch $@

$(STAMP)/assets-test: $(STAMP)/assets
	npm ci --no-audit --no-fund --loglevel=error --ignore-scripts
	@mkdir -p $(STAMP) && touch $@

translations: $(STAMP)/venv-runtime
	$(BIN)/pybabel compile -d app/translations

db: setup
	@mkdir -p instance
	$(BIN)/flask db upgrade

demo: db
	$(BIN)/flask seed-demo

jobs: setup
	$(BIN)/flask jobs run

i18n-extract: $(STAMP)/venv-runtime
	$(BIN)/pybabel extract --ignore-dirs '.* __pycache__ node_modules .venv' -F babel.cfg -k _l -k lazy_gettext -o app/translations/messages.pot --no-location --sort-output --project Atelier .

i18n-update: i18n-extract
	$(BIN)/pybabel update -i app/translations/messages.pot -d app/translations --ignore-obsolete --no-fuzzy-matching
	$(BIN)/python scripts/i18n_fill_source.py

check-system:
	@$(BIN)/python scripts/check_system.py

clean:
	rm -rf $(VENV) $(STAMP) node_modules app/static/vendor
