"""The gc boundary: remove a release from the servers and the agent.

(Commands and events arrive with the retention issue; the service already
joins the broker and sends its heartbeat.)
"""
SERVICE_NAME = "gc"
