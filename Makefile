# The two commands of the README: `make run` and `make test`. Both set up everything they need.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
DATA_DIR ?= var/data
KEY_DIR  ?= var/keys
PORT     ?= 8443
DEMO_SITE_PORT ?= 8444

.PHONY: run test panel screenshots fuzz chaos bench package package-test clean

$(VENV)/.installed-run: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed-run
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@

# The widget's browser tests drive Debian's chromium through Playwright (its own browser download cannot work here).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
$(VENV)/.installed-browser:
	command -v chromium >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && \
		$(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-liberation fonts-dejavu-core; }
	@mkdir -p $(VENV) && touch $@

# The LDAP sign-in tests run a real OpenLDAP directory (Debian's slapd, which needs no configuring here: the tests
# write their own slapd.conf); the package's own postinst asks nothing when it is installed non-interactively.
$(VENV)/.installed-ldap:
	command -v slapd >/dev/null 2>&1 || test -x /usr/sbin/slapd || { $(SUDO) apt-get update -qq && \
		$(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slapd; }
	@mkdir -p $(VENV) && touch $@

# The panel's Qt wheel (PySide6-Essentials) needs these system libraries; a desktop has them, a bare server may not.
QT_DEBS := libegl1 libgl1 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1 libdbus-1-3 libglib2.0-0 \
	libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 libxcb-xinerama0 libxcb-randr0 libxcb-render-util0 \
	libxcb-image0 fonts-dejavu-core
$(VENV)/.installed-qt:
	dpkg -s $(QT_DEBS) >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && \
		$(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(QT_DEBS); }
	@mkdir -p $(VENV) && touch $@

$(VENV)/.installed-panel: pyproject.toml $(VENV)/.installed-run $(VENV)/.installed-qt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[panel]'
	touch $@

DEMO_OPERATOR ?= admin@chatspark.test
# The demo in ./var reads no installed settings (/etc/chatspark, ~/.config/chatspark): RUN_CONFIG=FILE names one.
RUN_CONFIG ?= /dev/null
run: export CHATSPARK_CONFIG := $(RUN_CONFIG)
DEMO_PASSWORD_FILE := var/demo-operator-password.txt

run: $(VENV)/.installed-run
	@mkdir -p var && chmod 700 var
	@test -s $(DEMO_PASSWORD_FILE) || (umask 077 && $(BIN)/python -c \
		"import secrets; print(secrets.token_urlsafe(15))" > $(DEMO_PASSWORD_FILE))
	test -e $(KEY_DIR)/keys.db || $(BIN)/chatspark init --data-dir $(DATA_DIR) --key-dir $(KEY_DIR) \
		--operator-email $(DEMO_OPERATOR) --password-file $(DEMO_PASSWORD_FILE) --no-hints
	$(BIN)/chatspark demo create --data-dir $(DATA_DIR) --key-dir $(KEY_DIR) --owner-email $(DEMO_OPERATOR) \
		--site-port $(DEMO_SITE_PORT) --appliance-url https://localhost:$(PORT)
	@echo "Demo operator: $(DEMO_OPERATOR), password: $$(cat $(DEMO_PASSWORD_FILE))" \
		"(log in at https://localhost:$(PORT)/login)"
	exec $(BIN)/chatspark serve --data-dir $(DATA_DIR) --key-dir $(KEY_DIR) --port $(PORT) \
		--demo-site-port $(DEMO_SITE_PORT)

# One worker per core (TEST_WORKERS=0 runs the suite in this process); a file's tests stay in one worker, so a
# module's appliance, relay or directory starts once.
TEST_WORKERS ?= auto
test: $(VENV)/.installed-test $(VENV)/.installed-browser $(VENV)/.installed-qt $(VENV)/.installed-ldap
	$(BIN)/ruff check appliance server gui tests bench
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

# The control panel, connected to the appliance `make run` serves (run that first, in another terminal).
panel: $(VENV)/.installed-panel
	$(BIN)/chatspark panel --url https://localhost:$(PORT)

# Every screen of the panel at 1280x800, signed in to a test appliance, as PNGs in var/panel-screenshots/.
screenshots: $(VENV)/.installed-test $(VENV)/.installed-qt
	$(BIN)/python -m pytest -q tests/gui/test_screens.py

fuzz: $(VENV)/.installed-test
	CHATSPARK_FUZZ_EXAMPLES=200 $(BIN)/python -m pytest tests/server/openapi/test_schemathesis.py

# SIGKILL `chatspark serve` 100 times under a mixed workload, then check every acknowledged write and every database.
chaos: $(VENV)/.installed-test
	CHATSPARK_CHAOS_KILLS=100 $(BIN)/python -m pytest -s tests/server/test_chaos.py

# The server+CLI and panel bundles (dist/chatspark/, dist/chatspark-panel/) and their .deb and .rpm (packaging/).
# The Qt libraries go into the panel's bundle from the build machine: the same set `make test` installs.
$(VENV)/.installed-package: pyproject.toml $(VENV)/.installed-run $(VENV)/.installed-qt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[panel,package]'
	touch $@

package: $(VENV)/.installed-package
	$(BIN)/python packaging/build.py

# What the package tests use beside dpkg and apt: systemd-analyze (and libseccomp) for the unit, rpm to read the .rpm.
PACKAGE_TEST_DEBS := systemd libseccomp2 rpm
$(VENV)/.installed-package-test:
	dpkg -s $(PACKAGE_TEST_DEBS) >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && \
		$(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(PACKAGE_TEST_DEBS); }
	@mkdir -p $(VENV) && touch $@

# The frozen bundles run from a scratch folder, the .deb installed, served under the unit's sandbox, then purged
# (as root: it installs packages and creates the chatspark user).
package-test: package $(VENV)/.installed-test $(VENV)/.installed-qt $(VENV)/.installed-package-test
	$(SUDO) $(BIN)/python -m pytest tests/packaging

bench: $(VENV)/.installed-test
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) build dist *.egg-info
