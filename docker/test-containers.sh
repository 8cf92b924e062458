#!/usr/bin/env bash
# `make test-containers`: build the images and run the whole of rds from
# docker-compose.yml with podman, deploy the sample project through the API,
# activate it, check `current` on both app servers, tear everything down.
#
# Needs root and Debian packages podman, podman-compose, runc, debootstrap
# (installed if missing). Official images cannot be pulled here, so
# docker/compose.local.yml builds PostgreSQL and RabbitMQ from Debian
# packages; the Debian base image comes from docker/base-image.sh (cached in
# RDS_IMAGE_CACHE, default /var/cache/rds). Host ports (RDS_WEB_PORT, RDS_PG_PORT,
# RDS_AMQP_PORT, RDS_AMQP_UI_PORT) and the compose project name are free/unique
# per run unless set, so two runs on one machine do not collide.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
step() { echo "[$(( $(date +%s) - started ))s] $*"; }

need=()
for pkg in podman podman-compose runc debootstrap; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  step "installing ${need[*]}"
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >/dev/null
fi

export CONTAINERS_CONF=$PWD/docker/containers.conf
token_hex() { python3 -c 'import secrets; print(secrets.token_hex(32))'; }
export RDS_SECRET_KEY=${RDS_SECRET_KEY:-$(token_hex)}
export RDS_BUS_COMMAND_KEY=${RDS_BUS_COMMAND_KEY:-$(token_hex)} RDS_BUS_EVENT_KEY=${RDS_BUS_EVENT_KEY:-$(token_hex)}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
export RDS_WEB_PORT=${RDS_WEB_PORT:-$(free_port)} RDS_PG_PORT=${RDS_PG_PORT:-$(free_port)}
export RDS_AMQP_PORT=${RDS_AMQP_PORT:-$(free_port)} RDS_AMQP_UI_PORT=${RDS_AMQP_UI_PORT:-$(free_port)}
project=${RDS_COMPOSE_PROJECT:-rdsct$$}
compose=(podman-compose -p "$project" -f docker-compose.yml -f docker/compose.local.yml)
certs=/etc/ssl/certs/ca-certificates.crt
# the host's CA bundle is mounted beside the image's own, never over it: installing the
# image's ca-certificates package rewrites /etc/ssl/certs/ca-certificates.crt
build_certs=/tmp/host-ca-certificates.crt
build=(podman build -q --network=host --pull=never)
[ -s "$certs" ] && build+=(-v "$certs:$build_certs:ro")

teardown() {
  step "tearing down"
  "${compose[@]}" down -t 2 -v >/dev/null 2>&1 || true
  podman network rm -f "${project}_default" >/dev/null 2>&1 || true  # down leaves it
}
trap teardown EXIT

step "base image"
docker/base-image.sh
step "building images (rds, postgres, rabbitmq, appserver)"
# pip inside the build trusts the host's CA bundle (TLS-intercepting proxies)
"${build[@]}" --build-arg "PIP_OPTIONS=${RDS_PIP_OPTIONS-"--cert $build_certs"}" \
  -t localhost/rds:latest . >/dev/null
"${build[@]}" -t localhost/rds-postgres:15 docker/postgres >/dev/null
"${build[@]}" -t localhost/rds-rabbitmq:3 docker/rabbitmq >/dev/null
"${build[@]}" -t localhost/rds-appserver:latest docker/appserver >/dev/null

container() { echo "${project}_$1_1"; }
# podman-compose ignores depends_on conditions, and without systemd podman runs no
# health-check timers: run each container's health check here until it passes.
wait_healthy() {
  local name deadline=$(( $(date +%s) + ${2:-120} ))
  name=$(container "$1")
  until podman healthcheck run "$name" >/dev/null 2>&1; do
    if [ "$(podman inspect --format '{{.State.Running}}' "$name")" != true ] \
        || [ "$(date +%s)" -gt "$deadline" ]; then
      echo "$1 is not healthy; the end of its log:"; podman logs --tail 30 "$name"; exit 1
    fi
    sleep 1
  done
}

teardown >/dev/null
step "starting postgres, rabbitmq, keys"
"${compose[@]}" up -d postgres rabbitmq keys >/dev/null 2>&1
wait_healthy postgres; wait_healthy rabbitmq
test "$(podman wait "$(container keys)")" = 0
step "one-shot migration"
"${compose[@]}" up -d migrate >/dev/null 2>&1
test "$(podman wait "$(container migrate)")" = 0 || {
  podman start -a "$(container migrate)"; }   # raced postgres' first start: once more
podman logs "$(container migrate)" | tail -n 1
step "starting every rds service and the app servers"
"${compose[@]}" up -d >/dev/null 2>&1
for service in app1 app2 web ingest pruner builder activator killer migrator gc; do
  wait_healthy "$service" 180
done
step "all healthy; deploying the sample project through the API"
token=$(podman exec "$(container web)" rds user create-admin admin)
# (podman-compose 1.0 `run` prints the merged compose file first: skip to the demo's output)
"${compose[@]}" run --rm -e RDS_TOKEN="$token" admin \
  rds demo --server app1:22:deploy --server app2:22:deploy 2>&1 | sed -n '/^created project/,$p'
test "${PIPESTATUS[0]}" = 0
version=$(python3 - "$RDS_WEB_PORT" "$token" <<'PY'
import json, sys, urllib.request
request = urllib.request.Request(
    "http://127.0.0.1:%s/api/v1/projects/sample-app" % sys.argv[1],
    headers={"Authorization": "Bearer " + sys.argv[2]})
print(json.load(urllib.request.urlopen(request, timeout=10))["live_version"])
PY
)
for app in app1 app2; do
  link=$(podman exec "$(container "$app")" readlink /home/deploy/apps/sample-app/current)
  test "$link" = "releases/$version" || { echo "$app: current -> $link, want $version"; exit 1; }
  step "$app: current -> $link"
done
step "containers test passed"
