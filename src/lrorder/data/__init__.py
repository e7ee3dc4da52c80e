"""Dataset generators and readers; each writes arrays plus a ``manifest.json``."""
