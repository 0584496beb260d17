"""One module per screen of the panel, each a Page over the API."""
