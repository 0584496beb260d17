"""Agents: their settings, how they answer from their workspace's knowledge, the optional generator, the widget's
routes to them, and measuring their answers on an evaluation folder."""
