"""Small widgets the screens share: the message banner, forms that show errors on their fields, show-once dialogs."""
