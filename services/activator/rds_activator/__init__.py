"""activator: switches the live version on every server (agent side)."""
