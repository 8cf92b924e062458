"""builder: checks out, builds, packs and uploads a version (agent side)."""
