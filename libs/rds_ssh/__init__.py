"""The agent-side SSH operations of rds's built-in strategy (SPEC §4), on paramiko
and, for bulk data, the system OpenSSH client.

* :mod:`rds_ssh.connection`: :func:`connect` / :class:`SshSession` (one key,
  rds's own known-hosts file, commands with timeouts, SFTP) and
  :func:`openssh_argv` (the system client, pinned the same way);
* :mod:`rds_ssh.workers`: what every per-server job shares: one session per
  server for a whole task (:class:`Sessions`), the parallel fan-out, error
  texts, reading ``current``;
* :mod:`rds_ssh.upload` with :mod:`rds_ssh.pack`: :func:`upload_release`,
  seeded by hard links, the difference sent as rsync deltas or a tar streamed
  while it is packed, verified, published by rename;
* :mod:`rds_ssh.activate`: :func:`switch_servers` (atomic ``current``
  switch on all servers or none, in one wave), :func:`restore`,
  :func:`read_current`, :func:`read_currents`.

Servers are passed as value objects with ``host``, ``port``, ``user`` and
``label`` (:class:`rds_ssh.connection.Server`, which
``rds_contracts.base.ServerSpec`` satisfies). Plain modules: no nameko, no
eventlet, no database. Parallel work uses ``concurrent.futures`` threads,
which are green threads under eventlet's monkey-patching. Every server
failure is an :class:`rds_ssh.errors.SshError`. Import from the submodules.
"""
