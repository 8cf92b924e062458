"""Agent-side building blocks (plain modules, no database, no nameko).

``reporting`` turns a task's progress into contract events (sequence
numbers, batched log chunks, step timings); ``scripts`` runs a project
script in its own process group and streams its output; ``git`` keeps a
per-agent mirror of each repository; ``tasks`` holds the files through which
the killer reaches a running task on the same host.
"""
