"""Workspaces: their existence, members and roles (control database), and invitations to join them."""
