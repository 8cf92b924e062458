# One image for every rds service; docker-compose.yml picks the command.
FROM python:3.11-slim-bookworm

RUN apt-get update \
 && apt-get install -y --no-install-recommends git openssh-client bash ca-certificates \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY requirements.txt ./
RUN pip install --no-cache-dir -r requirements.txt
COPY pyproject.toml README.md ./
COPY libs ./libs
COPY services ./services
RUN pip install --no-cache-dir --no-deps .

RUN useradd --create-home --uid 1000 rds \
 && mkdir -p /app/var/demo && chown -R rds /app/var \
 && mkdir -p /var/lib/rds-agent && chown rds /var/lib/rds-agent
USER rds
ENV PYTHONUNBUFFERED=1
CMD ["rds", "--help"]
