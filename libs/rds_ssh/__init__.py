"""The agent-side SSH operations of rds's built-in strategy (SPEC §4), on paramiko.

* :mod:`rds_ssh.connection`: :func:`connect` / :class:`SshSession` (one key,
  rds's own known-hosts file, commands with timeouts, SFTP);
* :mod:`rds_ssh.upload` with :mod:`rds_ssh.pack`: :func:`upload_release`,
  packed once per seed, hard-link seeded, verified, published by rename;
* :mod:`rds_ssh.activate`: :func:`activate_release` (atomic ``current``
  switch on all servers or none), :func:`restore`, :func:`read_current`.

Plain modules: no nameko, no eventlet, no database. Parallel work uses
``concurrent.futures`` threads, which are green threads under eventlet's
monkey-patching. Every server failure is an
:class:`rds_ssh.errors.SshError`. Import from the submodules.
"""
