"""gc: removes releases from the servers and the agent (agent side)."""
