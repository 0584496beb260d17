"""Monitoring: the facts an operator checks about the appliance (sizes, disk, certificate, jobs, backups, mail,
the audit chain), gathered once for the API's overview, `chatspark status` and the panel."""
