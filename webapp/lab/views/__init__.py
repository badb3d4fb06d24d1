"""Views of the lab app, one module per area."""
