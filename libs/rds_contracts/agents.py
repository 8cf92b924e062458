"""Events every agent service emits, whatever its job.

``agent_heartbeat`` announces an agent copy (name, pool, version, running
tasks); the generic task events carry the progress of any long task:
``task_started``, ``task_log`` (output chunks, streamed while a script runs)
and ``task_step`` (step timings).
"""
from datetime import datetime
from typing import Literal

from pydantic import Field

from rds_contracts.base import MAX_LOG_CHUNK, Int32, Message, StepName, TaskEvent, TaskId

AGENT_HEARTBEAT = "agent_heartbeat"
TASK_STARTED = "task_started"
TASK_LOG = "task_log"
TASK_STEP = "task_step"


class AgentHeartbeat(Message):
    agent: str = Field(min_length=1, max_length=200)
    service: str = Field(min_length=1, max_length=40)
    pool: str = Field(min_length=1, max_length=63)
    host: str = Field(min_length=1, max_length=253)
    pid: Int32
    version: str = Field(max_length=40)
    running_tasks: list[TaskId] = Field(default_factory=list, max_length=1000)
    interval: float = Field(gt=0, le=86400, allow_inf_nan=False)
    at: datetime


class TaskStarted(TaskEvent):
    agent: str = Field(min_length=1, max_length=200)
    #: True when the broker delivered this command before (a previous run died).
    redelivered: bool = False


class TaskLog(TaskEvent):
    text: str = Field(max_length=MAX_LOG_CHUNK)


class TaskStep(TaskEvent):
    step: StepName
    state: Literal["started", "finished"]
