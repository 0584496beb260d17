"""Accounts: users, passwords, second factors, sessions and login throttling."""
