"""Agents: their settings and how they answer from their workspace's knowledge."""
