"""The pruner service: timers on the web side, and RPC methods for agents and operators.

RPC (``nameko shell``: ``n.rpc.pruner.<method>()``):

* ``running_tasks()``: every task that has not ended, with its agent;
* ``resend_command(task_id)``: publish a queued task's command again;
* ``reap_now()``: run the reaper once, returns how many tasks it ended;
* ``claim_task(request, signature)``: the fencing RPC agents call (below);
  ``signature`` is the request's HMAC with the event key (``rds_bus.signing``).

Fencing: an agent claims a task before it starts it and before each
irreversible step (uploading a release to the servers, switching
``current``, running ``post_use``). The web side owns the database, so it
answers: a :class:`ClaimAnswer` that grants the claim with a fencing token
(the task's run number, increasing by one per run that took the task), or
refuses it with a reason. A refused start drops the command (acked and
logged); a refused step stops the run where it is. So a command that is
stale (its task was cancelled, reaped or finished), or a duplicate delivered
while another run still holds the task, never acts.
"""
from pydantic import Field

from rds_contracts.base import Int32, Message, RunId, StepName, TaskId

SERVICE_NAME = "pruner"

CLAIM_TASK = "claim_task"
#: The step name of the claim an agent makes before it starts a task.
START = "start"
#: Irreversible steps: an agent claims the task again before each of them
#: (publishing a release on the servers, switching ``current``, ``post_use``,
#: running a project migration).
FENCED_STEPS = frozenset({"upload", "switch", "post-use", "migrate"})


class ClaimRequest(Message):
    task_id: TaskId
    run_id: RunId
    agent: str = Field(min_length=1, max_length=200)
    #: ``start``, or the irreversible step the run is about to begin.
    step: StepName
    #: The broker delivered this command before (a previous run may have died).
    redelivered: bool = False
    #: The agent copy on this host that held the task and whose process is
    #: gone: the claimant saw it die, so its run may be taken over at once.
    replaces: str | None = Field(default=None, max_length=200)


class ClaimAnswer(Message):
    granted: bool
    #: The fencing token of the run (granted claims only).
    token: Int32 | None = None
    reason: str | None = Field(default=None, max_length=1000)
    #: The agent copy whose run holds the task (refused starts only).
    holder: str | None = Field(default=None, max_length=200)
    #: The refusal is a cancel: the task has ended as cancelled.
    cancelled: bool = False
