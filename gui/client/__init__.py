"""The panel's only way to the appliance: one API client over a pinned TLS 1.3 connection, every call off the UI
thread."""
