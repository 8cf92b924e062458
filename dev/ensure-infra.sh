#!/usr/bin/env bash
# Make sure what rds needs on this machine is installed and running:
# PostgreSQL, RabbitMQ, OpenSSH and cron (for the app servers), git, Chromium (UI tests).
# Idempotent; safe to run on every `make` and in CI.
set -euo pipefail

need_apt=()
command -v /usr/sbin/sshd >/dev/null || need_apt+=(openssh-server)
command -v ssh-keygen >/dev/null || need_apt+=(openssh-client)
command -v git >/dev/null || need_apt+=(git)
command -v crontab >/dev/null || need_apt+=(cron)  # app servers: project cron blocks
command -v rabbitmqctl >/dev/null || need_apt+=(rabbitmq-server)
command -v pg_ctlcluster >/dev/null || need_apt+=(postgresql)
if [ "${RDS_NEED_BROWSER:-1}" = 1 ] && ! command -v chromium >/dev/null; then
  need_apt+=(chromium)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing: ${need_apt[*]}"
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need_apt[@]}" >/dev/null
fi

# PostgreSQL
if ! pg_isready -h 127.0.0.1 -p 5432 -q; then
  echo "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
  for _ in $(seq 1 60); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 0.5; done
fi

# RabbitMQ
if ! rabbitmqctl -q status >/dev/null 2>&1; then
  echo "starting RabbitMQ"
  rabbitmq-server -detached
  rabbitmqctl -q await_startup --timeout 60 >/dev/null
fi
