#!/bin/sh
# Trust rds's deploy key (from the shared /keys volume), then run sshd.
set -e
ssh-keygen -A >/dev/null
install -d -o deploy -g deploy -m 700 /home/deploy/.ssh
install -o deploy -g deploy -m 600 /keys/id_ed25519.pub /home/deploy/.ssh/authorized_keys
exec /usr/sbin/sshd -D -e -o PasswordAuthentication=no -o PermitRootLogin=no
