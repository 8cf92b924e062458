"""``rds-service`` entry point: silence start-up warnings, monkey-patch, then run.

eventlet must patch the standard library before anything else is imported
(pydantic, logging handlers, kombu), so this module imports nothing of rds
until it has done so; ``rds_settings.nameko.main`` does the rest.
"""
import sys


def main() -> int:
    from rds_settings.startup import quiet_warnings

    quiet_warnings()
    import eventlet

    eventlet.monkey_patch()
    from rds_settings.nameko import main as run

    return run()


if __name__ == "__main__":
    sys.exit(main())
