"""connect / SshSession against a real sshd: host keys, auth, commands."""
import hashlib
import os
import socket

import paramiko
import pytest

from rds_contracts.base import ServerSpec
from rds_ssh.connection import SshSettings, connect
from rds_ssh.errors import SshError
from rds_testing.appservers import ensure_keypair, free_port


def test_it_records_an_unknown_host_key_and_runs_commands(servers, settings, tmp_path):
    with connect(servers[0], settings) as session:
        assert session.run("echo out; echo err >&2; exit 3") == (3, "out\nerr\n")
        assert session.run("cat", stdin="fed") == (0, "fed")
        assert session.home == "/home/rdsapp1"
        assert session.abs("apps/x") == "/home/rdsapp1/apps/x"
        assert session.abs("/srv/x") == "/srv/x"
        with pytest.raises(SshError, match="exit 1"):
            session.run_checked("false")
        big = tmp_path / "big"
        big.write_bytes(os.urandom(300 * 1024))
        status, output = session.send_file("sha256sum", str(big))
        assert status == 0 and output.split()[0] == _sha256(big)
    hosts = paramiko.HostKeys(settings.known_hosts_path)
    assert hosts.lookup("[127.0.0.1]:%d" % servers[0].port)
    with connect(servers[0], settings) as session:  # the recorded key is accepted
        assert session.run("true")[0] == 0


def _sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def record_another_host_key(server, settings):
    """Make ``known_hosts`` hold a key for ``server`` that is not its host key."""
    other = paramiko.Ed25519Key.from_private_key_file(settings.key_path)  # not the host key
    os.makedirs(os.path.dirname(settings.known_hosts_path))
    with open(settings.known_hosts_path, "w") as handle:
        handle.write("[127.0.0.1]:%d %s %s\n" % (server.port, other.get_name(),
                                                 other.get_base64()))


def test_a_changed_host_key_is_refused(servers, settings):
    record_another_host_key(servers[0], settings)
    with pytest.raises(SshError, match="host key CHANGED"):
        connect(servers[0], settings)


def test_strict_policy_refuses_unknown_hosts(servers, ssh_key, tmp_path):
    strict = SshSettings(ssh_key, str(tmp_path / "kh"), host_key_policy="strict")
    with pytest.raises(SshError, match="unknown host key"):
        connect(servers[0], strict)
    assert os.path.getsize(tmp_path / "kh") == 0


def test_a_wrong_key_fails_authentication(servers, settings, tmp_path):
    settings.key_path = ensure_keypair(str(tmp_path / "other" / "id_ed25519"))
    with pytest.raises(SshError, match="authentication failed for user 'rdsapp1'"):
        connect(servers[0], settings)


def test_a_wrong_port_is_reported_as_refused(settings):
    server = ServerSpec(id=1, host="127.0.0.1", port=free_port(), user="rdsapp1")
    with pytest.raises(SshError, match="connection refused") as info:
        connect(server, settings)
    assert info.value.server_label == server.label


def test_a_slow_command_times_out(servers, settings):
    settings.command_timeout = 0.3
    with connect(servers[0], settings) as session:
        with pytest.raises(SshError, match="timed out after 0.3s"):
            session.run("sleep 5")


def test_a_silent_port_is_reported_as_no_handshake(settings):
    settings.connect_timeout = 0.3
    with socket.socket() as listener:  # accepts TCP but never speaks SSH
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        server = ServerSpec(id=1, host="127.0.0.1", port=listener.getsockname()[1],
                            user="rdsapp1")
        with pytest.raises(SshError, match="no SSH handshake .* within 0.3s"):
            connect(server, settings)


def test_a_remote_shell_runs_commands_one_after_another(servers, settings):
    import shutil

    from rds_ssh.connection import RemoteShell

    with RemoteShell(shutil.which("ssh"), servers[0], settings) as shell:
        assert shell.run("echo out; echo err >&2; exit 3") == (3, "out\nerr\n")
        assert shell.run("cd /tmp && pwd") == (0, "/tmp\n")
        assert shell.run("pwd") == (0, "/home/rdsapp1\n")  # each command in its own subshell
        assert shell.run("cat", stdin="line 1\nline 2\n") == (0, "line 1\nline 2\n")
        assert shell.run("printf 'no newline'") == (0, "no newline")
        assert shell.run("exit 0") == (0, "")  # exit leaves the subshell, not the shell
        assert shell.active
        with pytest.raises(SshError, match="exit 1"):
            shell.run_checked("false")
    assert not shell.active
    hosts = paramiko.HostKeys(settings.known_hosts_path)
    assert hosts.lookup("[127.0.0.1]:%d" % servers[0].port)  # accept-new recorded it


def test_a_remote_shell_refuses_a_changed_host_key_and_names_the_problem(servers, settings):
    import shutil

    from rds_ssh.connection import RemoteShell

    record_another_host_key(servers[0], settings)
    with pytest.raises(SshError, match="host key CHANGED"):
        RemoteShell(shutil.which("ssh"), servers[0], settings)
    closed = ServerSpec(id=9, host="127.0.0.1", port=free_port(), user="rdsapp1")
    with pytest.raises(SshError, match="connection refused"):
        RemoteShell(shutil.which("ssh"), closed, settings)
