"""The web edge of the appliance: Flask app, waitress behind Caddy, the serving supervisor and the CLI."""
