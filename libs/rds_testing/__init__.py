"""Test and demo helpers: real sshd "app servers", databases, vhosts, processes."""
