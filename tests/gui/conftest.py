"""The panel's tests: offscreen Qt (pytest-qt) against a real appliance (Caddy, waitress, SQLCipher) with a real SMTP
relay, started once per module. The panel's settings live in the test's own folder."""

from __future__ import annotations

import gc
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before Qt is imported

import pytest  # noqa: E402

from tests.appliance.mail.smtp_server import starttls_relay  # noqa: E402
from tests.gui.driving import ServedAppliance, start_served  # noqa: E402


@pytest.fixture(scope="module")
def relay(tmp_path_factory):
    with starttls_relay(tmp_path_factory.mktemp("relay")) as found:
        yield found


@pytest.fixture(scope="module")
def served(tmp_path_factory, relay) -> ServedAppliance:
    served = start_served(tmp_path_factory.mktemp("panel-appliance"), relay)
    yield served
    served.running.stop()


@pytest.fixture(scope="module", autouse=True)
def no_automatic_collection():
    """As the panel does (gui/client/collector.py): no automatic collection while the panel's tests run. It could
    start on any thread that allocates (an API worker, the SMTP relay's) and destroy a closed window there, which
    crashes Qt; collections happen on the tests' own (UI) thread instead. Per module, so that the rest of the suite
    keeps its usual collector."""
    enabled = gc.isenabled()
    gc.disable()
    yield
    if enabled:
        gc.enable()


@pytest.fixture(autouse=True)
def collect_on_the_ui_thread():
    yield
    gc.collect()
