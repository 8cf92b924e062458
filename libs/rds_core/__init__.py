"""Plain domain logic of rds: no nameko, no database, no network.

Everything here is importable by both sides (web and agents) and testable
without a broker: names and paths, version numbers, the release state
machine, upload planning.
"""
