# One image for every rds service (web, ingest, pruner and the five agents);
# docker-compose.yml picks the command. Debian's own Python 3.11 in a venv, so
# the same base works for the local podman test (docker/base-image.sh).
FROM debian:bookworm-slim

RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv git openssh-client bash \
      ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && python3 -m venv /opt/rds
ENV PATH=/opt/rds/bin:$PATH PYTHONUNBUFFERED=1 LANG=C.UTF-8

WORKDIR /app
# extra pip options for the build only, e.g. "--cert /etc/ssl/certs/ca-certificates.crt"
# behind a TLS-intercepting proxy (make test-containers passes the host's)
ARG PIP_OPTIONS=
COPY requirements.txt ./
RUN pip install --no-cache-dir --disable-pip-version-check $PIP_OPTIONS -r requirements.txt
COPY pyproject.toml README.md ./
COPY libs ./libs
COPY services ./services
# the build requirements (pyproject's [build-system]) with the same pip options, then rds
# itself without build isolation (an isolated build would fetch them without the options)
RUN pip install --no-cache-dir --disable-pip-version-check $PIP_OPTIONS "setuptools>=65,<82" wheel \
 && pip install --no-cache-dir --disable-pip-version-check --no-build-isolation --no-deps .

RUN useradd --create-home --uid 1000 rds \
 && mkdir -p /app/var/demo && chown -R rds /app/var \
 && mkdir -p /var/lib/rds-agent /run/rds-agent && chown rds /var/lib/rds-agent /run/rds-agent
USER rds
CMD ["rds", "--help"]
