"""Accounts: users, passwords, second factors, sessions, login throttling, API keys, and who may do what (roles)."""
