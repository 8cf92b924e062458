"""The one exception of the SSH layer.

Every failure on a server (cannot connect, refused key, a remote command that
failed, a verification mismatch) becomes an :class:`SshError` naming the
server (``user@host:port``) and saying in plain words what went wrong, so the
agent can put it in front of a user as it is.
"""


class SshError(Exception):
    """Something failed on one server; ``str()`` is ``"<label>: <message>"``."""

    def __init__(self, server_label: str, message: str) -> None:
        super().__init__("%s: %s" % (server_label, message))
        self.server_label = server_label
        self.message = message
