"""The `chatspark` command: one module per command group, one entry point (`main`)."""
