"""Frontends: importers from other model formats into qhw graphs."""
