"""killer: cancels running tasks by killing their process group (agent side)."""
