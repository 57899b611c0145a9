# Atelier — the README's commands. `make run` and `make test` set everything up on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := .make
export FLASK_APP := wsgi
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: run test bench lint setup assets translations db demo jobs i18n-extract i18n-update check-system clean

run: setup db demo
	$(BIN)/python serve.py

# The suite runs on every core (at most 4 workers), each worker with its own PostgreSQL, Redis, SMTP sink
# and browser. TEST_WORKERS=0 runs it in this one process.
TEST_WORKERS ?= auto
test: setup check-system
	$(BIN)/python -m pytest --numprocesses=$(TEST_WORKERS) --maxprocesses=4 --dist=load $(PYTEST_ARGS)

bench: setup check-system
	@ls bench/*.py >/dev/null 2>&1 && for b in bench/*.py; do case $$b in bench/common.py|bench/*_app.py) continue;; esac; \
	  echo "== $$b"; $(BIN)/python $$b || exit 1; done \
	  || echo "no benchmark yet"

lint: setup
	$(BIN)/ruff check .

setup: $(STAMP)/venv $(STAMP)/assets translations

$(STAMP)/venv: pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python 3.11 or newer is needed"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[test]'
	@mkdir -p $(STAMP) && touch $@

# --ignore-scripts: vnu-jar's postinstall would download a Java runtime from GitHub where none is installed; the
# tests use Debian's default-jre-headless (.ci/run installs it), and no other package has an install script.
$(STAMP)/assets: package.json package-lock.json scripts/build-assets.mjs
	@command -v npm >/dev/null || { echo "npm is needed (Debian package: npm)"; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error --ignore-scripts
	node scripts/build-assets.mjs
	@mkdir -p $(STAMP) && touch $@

translations: $(STAMP)/venv
	$(BIN)/pybabel compile -d app/translations

db: setup
	@mkdir -p instance
	$(BIN)/flask db upgrade

demo: db
	$(BIN)/flask seed-demo

jobs: setup
	$(BIN)/flask jobs run

i18n-extract: $(STAMP)/venv
	$(BIN)/pybabel extract --ignore-dirs '.* __pycache__ node_modules .venv' -F babel.cfg -k _l -k lazy_gettext -o app/translations/messages.pot --no-location --sort-output --project Atelier .

i18n-update: i18n-extract
	$(BIN)/pybabel update -i app/translations/messages.pot -d app/translations --ignore-obsolete --no-fuzzy-matching
	$(BIN)/python scripts/i18n_fill_source.py

check-system:
	@$(BIN)/python scripts/check_system.py

clean:
	rm -rf $(VENV) $(STAMP) node_modules app/static/vendor
