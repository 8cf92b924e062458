"""The settings object: one field per ``RDS_<NAME>`` variable, grouped by who reads it.

Each group is a small class; ``Settings`` inherits them all. To add a setting,
add a field (with its default and a ``description``) to the group of the
process that reads it, or a new group to ``Settings``' bases, and a row to
README's Configuration table. Secrets (keys, tokens) are left out of ``repr``,
so a logged settings object leaks nothing. A bad value fails at start-up with the
variable's name (``RDS_QUEUE_TIMEOUT: Input should be a valid number``).
"""
import os
from functools import lru_cache
from typing import Any, Literal

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict


class _Group(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RDS_", extra="ignore", frozen=True,
                                      allow_inf_nan=False)


class CommonGroup(_Group):
    """Read by every process."""

    database_url: str = Field("postgresql://postgres@127.0.0.1:5432/rds",
                              description="rds's database (web, ingest, pruner, `rds` CLI)")
    amqp_uri: str = Field("amqp://guest:guest@127.0.0.1:5672/",
                          description="RabbitMQ (every service)")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="log level of the nameko services")
    bus_command_key: str = Field("", repr=False, description=(
        "HMAC key signing commands (web, ingest, pruner sign; agents check); see Security"))
    bus_event_key: str = Field("", repr=False, description=(
        "HMAC key signing agent events (agents sign; ingest checks); see Security"))


class WebGroup(_Group):
    """The web process (Flask under gunicorn)."""

    secret_key: str = Field("", repr=False,
                            description="signs sessions and CSRF tokens (required by web)")
    public_url: str = Field("http://127.0.0.1:8000",
                            description="base URL used in links sent out (https: secure cookies)")
    ui_stream_seconds: float = Field(300.0, gt=0, description=(
        "a live-update stream ends after this and the browser resumes it"))
    ui_max_streams: int = Field(100, ge=0, description=(
        "live-update streams per web worker; each holds a thread (see `RDS_WEB_REQUEST_THREADS`)"))
    web_workers: int = Field(2, ge=1, description=(
        "gunicorn worker processes of web (`rds_web.gunicorn_conf`)"))
    web_request_threads: int = Field(16, ge=1, description=(
        "threads per web worker for requests other than streams; a worker runs "
        "`RDS_UI_MAX_STREAMS` + this many"))
    ui_keepalive_seconds: float = Field(15.0, gt=0,
                                        description="keep-alive comment on idle streams")
    ui_session_hours: float = Field(12.0, gt=0, description="login session lifetime")
    metrics_token: str = Field("", repr=False, description=(
        "when set, `GET /metrics` requires `Authorization: Bearer <it>`"))
    health_token: str = Field("", repr=False, description=(
        "`Authorization: Bearer <it>` shows database error details on `/health`"))
    max_content_length: int = Field(2 * 1024 * 1024, ge=1024, description=(
        "largest request body in bytes (larger: 413)"))
    trusted_proxies: int = Field(0, ge=0, le=10, description=(
        "reverse proxies in front of web whose `X-Forwarded-*` headers count"))


class AgentGroup(_Group):
    """Agent services (builder, activator, killer, migrator, gc); the pool and
    heartbeat also apply to ingest and pruner."""

    agent_pool: str = Field("default", description=(
        "which pool's commands this copy takes (a project names its pool)"))
    agent_name: str = Field("", description=(
        "host part of the agent name `<name>/<service>/<pid>` (default: the host name)"))
    agent_work_dir: str = Field("/var/lib/rds-agent", description=(
        "git mirrors, workspaces, upload scratch space, `known_hosts`"))
    agent_run_dir: str = Field("", description=(
        "running-task files shared by builder and killer on a host (default `<work dir>/run`)"))
    ssh_key_path: str = Field("~/.ssh/id_ed25519", description="private key for the app servers")
    ssh_known_hosts: str = Field("", description=(
        "host keys rds trusts (default `<work dir>/known_hosts`)"))
    ssh_host_key_policy: Literal["accept-new", "strict"] = Field("accept-new", description=(
        "`accept-new` (remember new hosts, refuse changed keys) or `strict`"))
    script_timeout: float = Field(3600.0, gt=0, description="seconds a project script may run")
    heartbeat_interval: float = Field(5.0, gt=0, description="seconds between heartbeats")
    builder_concurrency: int = Field(2, ge=1, description=(
        "builds one builder copy runs at once (its nameko `max_workers`)"))
    gc_workspace_grace: float = Field(7200.0, ge=0, description=(
        "seconds before gc removes a workspace or upload tar no running task claims"))
    gc_mirror_max_idle_days: float = Field(14.0, ge=0, description=(
        "days after which gc removes a git mirror no build used"))


class PrunerGroup(_Group):
    """The pruner's safety nets (``rds_control.reaper``, ``rds_control.outbox``)."""

    agent_timeout: float = Field(30.0, gt=0, description=(
        "seconds without heartbeat before the agent's tasks fail"))
    queue_timeout: float = Field(3600.0, gt=0, description=(
        "seconds a task may wait for an agent before it fails"))
    cancel_timeout: float = Field(60.0, gt=0, description=(
        "seconds after which an unconfirmed cancel ends as cancelled"))
    outbox_grace: float = Field(5.0, ge=0, description=(
        "seconds before the pruner re-publishes an unsent command"))
    task_deadline_build: float = Field(7200.0, gt=0, description=(
        "seconds a running build (with its upload) may take before it fails"))
    task_deadline_activate: float = Field(1800.0, gt=0, description=(
        "seconds a running activation may take before it fails"))
    task_deadline_migrate: float = Field(7200.0, gt=0, description=(
        "seconds a running migration may take before it fails"))
    task_deadline_remove: float = Field(1800.0, gt=0, description=(
        "seconds a running removal may take before it fails"))
    task_deadline_inspect: float = Field(600.0, gt=0, description=(
        "seconds a running drift check of a project's servers may take before it fails"))
    task_deadline_config: float = Field(600.0, gt=0, description=(
        "seconds a running config push may take before it fails"))
    task_deadline_config_check: float = Field(300.0, gt=0, description=(
        "seconds a running check of the servers' config files may take before it fails"))
    lost_task_grace: float = Field(15.0, gt=0, description=(
        "seconds the first heartbeat no longer listing a task must precede what ingest "
        "has applied before the task fails as lost"))

    retention_min_age_hours: float = Field(24.0, ge=0, le=87600, description=(
        "retention never removes a successful release younger than this (hours; from its "
        "creation or its last time live)"))
    retention_discarded_age_hours: float = Field(6.0, ge=0, le=87600, description=(
        "failed, cancelled and deleted releases are removed after this many hours"))
    retention_interval: float = Field(300.0, ge=10, le=86400, description=(
        "seconds between the pruner's runs of retention (each starts the removals the "
        "plan of every project allows)"))
    drift_check_interval: float = Field(900.0, gt=0, description=(
        "seconds between automatic drift checks of a project's servers"))

    def task_deadlines(self) -> dict[str, float]:
        """Seconds a running task may take, by task kind."""
        return {"build": self.task_deadline_build, "activate": self.task_deadline_activate,
                "migrate": self.task_deadline_migrate, "remove": self.task_deadline_remove,
                "inspect": self.task_deadline_inspect,
                "config": self.task_deadline_config,
                "config_check": self.task_deadline_config_check}


class NotifyGroup(_Group):
    """Notification delivery by the pruner (``rds_control.delivery``); links use
    ``public_url``."""

    smtp_host: str = Field("", description=(
        "SMTP server for email notifications (unset: email channels fail with that reason)"))
    smtp_port: int = Field(25, ge=1, le=65535, description="its port")
    smtp_starttls: bool = Field(False, description=(
        "upgrade the SMTP connection with STARTTLS (certificate verified)"))
    smtp_user: str = Field("", description="SMTP login, when set (with `RDS_SMTP_PASSWORD`)")
    smtp_password: str = Field("", description="SMTP password")
    smtp_from: str = Field("rds@localhost", description="sender address of notifications")
    notify_timeout: float = Field(10.0, gt=0, description=(
        "seconds to wait for an SMTP server or a webhook receiver"))


class IngestGroup(_Group):
    """The ingest service."""

    release_log_limit: int = Field(20 * 2**20, ge=1024, description=(
        "bytes of build output stored per release; then the log says it was truncated"))
    ingest_batch_size: int = Field(200, ge=1, le=5000, description=(
        "most agent events ingest applies in one transaction (it prefetches twice as many)"))
    ingest_batch_wait: float = Field(0.05, gt=0, le=10, description=(
        "seconds ingest waits for more events after the first of a batch"))


class ClientGroup(_Group):
    """The ``rds`` CLI's API verbs (also settable with ``--url``/``--token``)."""

    url: str = Field("http://127.0.0.1:8000", description="where the rds API is")
    token: str = Field("", repr=False,
                       description="the API token the CLI uses (`rds token issue NAME`)")


class Settings(CommonGroup, WebGroup, AgentGroup, PrunerGroup, NotifyGroup, IngestGroup,
               ClientGroup):
    """Every ``RDS_*`` setting of rds."""

    def resolved_work_dir(self) -> str:
        return os.path.abspath(os.path.expanduser(self.agent_work_dir))


class _FromMapping(Settings):
    """Settings from an explicit mapping only (tests, ``load(environ)``)."""

    @classmethod
    def settings_customise_sources(
            cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


class SettingsError(Exception):
    """A variable has a bad value; the message names it."""


def load(environ: dict[str, str] | None = None) -> Settings:
    """Parse ``environ`` (default: the process environment) into Settings."""
    try:
        if environ is None:
            return Settings()
        prefix = "RDS_"
        values: dict[str, Any] = {
            key[len(prefix):].lower(): value for key, value in environ.items()
            if key.startswith(prefix) and key[len(prefix):].lower() in Settings.model_fields}
        return _FromMapping(**values)
    except ValidationError as exc:
        problems = "; ".join("RDS_%s: %s" % (str(error["loc"][0]).upper(), error["msg"])
                             for error in exc.errors())
        raise SettingsError("bad configuration: " + problems) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """This process's settings, parsed from the environment on first use."""
    return load()


def fields() -> dict[str, str]:
    """``{"RDS_<NAME>": description}`` for every setting (README's table, the docs test)."""
    return {"RDS_" + name.upper(): info.description or ""
            for name, info in Settings.model_fields.items()}
