"""The control panel: a PySide6 desktop client of the appliance's HTTPS API (it never opens a file of the appliance)."""
