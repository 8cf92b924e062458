"""The pruner service: timers on the web side, and RPC methods for operators.

RPC (``nameko shell``: ``n.rpc.pruner.<method>()``):

* ``running_tasks()``: every task that has not ended, with its agent;
* ``resend_command(task_id)``: publish a queued task's command again;
* ``reap_now()``: run the reaper once, returns how many tasks it ended.
"""
SERVICE_NAME = "pruner"
