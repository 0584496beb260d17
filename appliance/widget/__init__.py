"""The chat widget's side of the core: visitor tokens, and what a visitor may do, checked against origins and limits."""
