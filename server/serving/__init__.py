"""Serving: the supervisor of `chatspark serve`, waitress on a private socket, Caddy in front as the only listener."""
