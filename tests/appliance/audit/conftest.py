"""The audit log under the appliance's own key, for its tests."""

from __future__ import annotations

import pytest

from appliance.audit.log import AuditLog
from appliance.bootstrap import AUDIT_MAC_KEY


@pytest.fixture
def audit(appliance) -> AuditLog:
    return AuditLog(appliance.control_db, key=appliance.keystore.get(AUDIT_MAC_KEY), clock=appliance.clock)
