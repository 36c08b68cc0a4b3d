"""dr-console: a terminal console for disaster recovery in the cloud."""

__version__ = "0.1.0"
