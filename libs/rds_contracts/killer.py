"""The killer boundary: cancel a running task.

``cancel`` is broadcast to every killer copy of the pool; the copy on the
host that runs the task kills its process group, and the task's own service
then reports its ``*_cancelled`` event. Killers also leave a tombstone so a
task that has not started yet never starts.
"""
from rds_contracts.base import Command

SERVICE_NAME = "killer"

CANCEL = "cancel"


class CancelCommand(Command):
    pass
