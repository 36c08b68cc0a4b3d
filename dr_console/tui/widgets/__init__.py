"""Widgets the screens are built from; each renders data it is given and
owns no application state."""
