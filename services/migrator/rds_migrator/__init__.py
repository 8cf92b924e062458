"""migrator: runs one pre/post migration of a deployed project (agent side)."""
