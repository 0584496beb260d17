"""The PySide6 control panel: a client of the HTTPS API (arrives with its own issue)."""
