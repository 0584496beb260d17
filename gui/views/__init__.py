"""The panel's screens: a module per screen, each a Page over the API, with the dialogs (or the export) of the
larger ones beside it in a module named for them."""
