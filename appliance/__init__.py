"""ChatSpark Appliance core: keys, storage and the services built on them (no web or GUI code here)."""

__version__ = "0.1.0"
