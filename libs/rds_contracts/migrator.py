"""The migrator boundary: run one pre/post migration of a deployed project.

(Commands and events arrive with the migrations issue; the service already
joins the broker and sends its heartbeat.)
"""
SERVICE_NAME = "migrator"
