"""Process settings from the environment or .env (pydantic-settings), validated at start-up."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlparse

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from engine.incident import SLACK_USER_ID
from engine.secrets import SECRET_NAME, SecretStore

LOOPBACK_NAMES = {"localhost", "ip6-localhost"}


API_TOKEN_NAME = re.compile(r"^[A-Za-z0-9_-]{1,40}$")


def is_loopback(host: str) -> bool:
    """True when `host` only accepts connections from this machine."""
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Settings(BaseSettings):
    """Everything an operator can set; category settings and the kill switch live in the database."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"
    audit_channel: str | None = None
    admin_users: Annotated[list[str], NoDecode] = Field(default_factory=list)
    killswitch_anyone: bool = True

    database_url: str = "sqlite:///autoresolve.db"
    database_pool_size: int = Field(default=20, ge=2, le=500)  # PostgreSQL connections per process
    processes: int = Field(default=1, ge=1, le=64)  # bot processes `serve` starts on one port (PostgreSQL)
    runbooks_file: Path = Path("runbooks.yml")
    # Where runbook steps' {secret:NAME} come from: these environment variables (by name), and files
    # in this directory (one per secret, named by it, as Kubernetes and Docker mount secrets).
    runbook_secrets_env: Annotated[list[str], NoDecode] = Field(default_factory=list)
    runbook_secrets_dir: Path | None = None
    host: str = "127.0.0.1"
    port: int = Field(default=3000, ge=1, le=65535)
    api_token: SecretStr | None = None
    # The audit chain's key (else the file, made on first start) and where its head is anchored.
    audit_key: SecretStr | None = None
    audit_key_file: Path = Path("audit.key")
    audit_checkpoint_file: Path = Path("audit-checkpoints.log")
    audit_checkpoint_seconds: float = Field(default=300.0, ge=1, le=86_400)
    # Hosts (patterns) and address ranges a callback_url may reach although they are inside.
    callback_allowed_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Named API tokens, `name:token,name:token`: the name is who acts in the audit trail.
    api_tokens: Annotated[dict[str, SecretStr], NoDecode] = Field(default_factory=dict)
    webhook_token: SecretStr | None = None
    webhook_secret: SecretStr | None = None
    result_webhook_url: str | None = None
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = "text"

    public_url: str | None = None  # how others reach the bot (links in result callbacks)
    dedup_window_seconds: float = Field(default=300.0, ge=0, le=86_400)
    # How long a resolution must hold (no reopen, no re-fire of its fingerprint) to count as fixed.
    outcome_settle_seconds: float = Field(default=86_400.0, ge=1, le=30 * 86_400)
    # Calibration (docs/calibration.md): the highest false-resolution rate a suggested threshold may
    # have, how sure its bound is, and how many outcomes before anything is suggested.
    calibration_target: float = Field(default=0.02, gt=0, lt=1)
    calibration_confidence: float = Field(default=0.95, ge=0.5, lt=1)
    calibration_min_outcomes: int = Field(default=30, ge=1, le=1_000_000)
    # The autonomy ladder (docs/calibration.md): where a category created from now on starts, whether
    # the evidence's proposals are posted to the audit channel, and a weekly calibration summary there.
    new_category_mode: Literal["off", "shadow", "approval", "auto"] = "shadow"
    autonomy_proposals: bool = True
    calibration_weekly_summary: bool = False
    webhook_max_skew_seconds: float = Field(default=300.0, ge=30, le=3600)
    alertmanager_category_label: str = "category"
    alertmanager_confidence_label: str = "confidence"
    alertmanager_creator_label: str = "created_by"
    alertmanager_default_category: str | None = None
    alertmanager_default_confidence: float | None = Field(default=None, ge=0, le=1)
    alertmanager_default_creator: str | None = None
    alertmanager_service_label: str = "service"
    alertmanager_dedup_label: str | None = None
    # Grafana Alerting's webhook contact point: its HMAC secret, the timestamp header if one is set
    # there (then signatures are over "timestamp:body", checked against WEBHOOK_MAX_SKEW_SECONDS and
    # never taken twice), and where its alerts' fields come from (as for Alertmanager).
    grafana_webhook_secret: SecretStr | None = None
    grafana_webhook_timestamp_header: str | None = None
    grafana_category_label: str = "category"
    grafana_confidence_label: str = "confidence"
    grafana_creator_label: str = "created_by"
    grafana_default_category: str | None = None
    grafana_default_confidence: float | None = Field(default=None, ge=0, le=1)
    grafana_default_creator: str | None = None
    grafana_service_label: str = "service"
    grafana_dedup_label: str | None = None
    # PagerDuty v3 webhooks: the subscription's signing secrets (comma-separated: during a rotation
    # both are accepted), and where incidents' fields come from. A PagerDuty incident has no labels:
    # the mapping reads `service`, `team`, `urgency`, `priority`, `escalation_policy` and `agent`.
    pagerduty_webhook_secrets: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    pagerduty_category_label: str = "category"
    pagerduty_confidence_label: str = "confidence"
    pagerduty_creator_label: str = "created_by"
    pagerduty_default_category: str | None = None
    pagerduty_default_confidence: float | None = Field(default=None, ge=0, le=1)
    pagerduty_default_creator: str | None = None
    pagerduty_service_label: str = "service"
    pagerduty_dedup_label: str | None = None
    # Resolving back: with an API token, an incident the bot resolves is resolved in PagerDuty too
    # (a note with the outcome, then the status), `From` the account's e-mail, through the outbox.
    pagerduty_api_token: SecretStr | None = None
    pagerduty_from_email: str | None = None
    pagerduty_api_url: str = "https://api.pagerduty.com"
    # Opsgenie and Jira Service Management Operations' outgoing webhook: sent as a custom header
    # `Authorization: Bearer <token>` set on the integration; and where its incidents' fields come from.
    opsgenie_webhook_token: SecretStr | None = None
    # Closing back: with an API key (of an API integration), an alert the bot resolves is closed in
    # Opsgenie with a note. JSM: OPSGENIE_API_URL=https://api.atlassian.com/jsm/ops/integration.
    opsgenie_api_key: SecretStr | None = None
    opsgenie_api_url: str = "https://api.opsgenie.com"
    opsgenie_category_label: str = "category"
    opsgenie_confidence_label: str = "confidence"
    opsgenie_creator_label: str = "created_by"
    opsgenie_default_category: str | None = None
    opsgenie_default_confidence: float | None = Field(default=None, ge=0, le=1)
    opsgenie_default_creator: str | None = None
    opsgenie_service_label: str = "service"
    opsgenie_dedup_label: str | None = None
    # Datadog's webhook integration (with the payload template in docs/sources.md): sent as a custom
    # header `Authorization: Bearer <token>`; and where its incidents' fields come from.
    datadog_webhook_token: SecretStr | None = None
    datadog_category_label: str = "category"
    datadog_confidence_label: str = "confidence"
    datadog_creator_label: str = "created_by"
    datadog_default_category: str | None = None
    datadog_default_confidence: float | None = Field(default=None, ge=0, le=1)
    datadog_default_creator: str | None = None
    datadog_service_label: str = "service"
    datadog_dedup_label: str | None = None

    slack_channel_rate: float = Field(default=1.0, gt=0, le=100)  # Slack allows about 1 message/s/channel
    slack_channel_burst: float = Field(default=3.0, ge=1, le=100)
    slack_updates_per_minute: float = Field(default=50.0, gt=0, le=6000)  # each Tier 3 method's
    # chat.postMessage across the workspace (every channel and DM together), and its burst
    slack_workspace_rate: float = Field(default=10.0, gt=0, le=1000)
    slack_workspace_burst: float = Field(default=20.0, ge=1, le=1000)
    # A Slack call that has not answered in this long is given up and retried; a post still marked
    # as being sent twice this long after it began is looked for in Slack before it is sent again.
    slack_timeout_seconds: float = Field(default=10.0, ge=0.5, le=60)
    outbox_retention_days: float = Field(default=14.0, ge=1, le=3650)  # delivered messages, then pruned

    auto_resolve_wait_seconds: float = Field(default=30.0, ge=0, le=300)
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    # A request's headers, then its body, must arrive within these; connections beyond the cap get 503.
    http_header_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    http_body_timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    http_keep_alive_seconds: int = Field(default=5, ge=1, le=300)
    http_max_connections: int = Field(default=1000, ge=10, le=100_000)
    worker_poll_seconds: float = Field(default=0.5, gt=0, le=10)
    kill_switch_poll_seconds: float = Field(default=0.5, gt=0, le=10)  # how often a running step reads it
    command_workdir: Path | None = None  # where command steps run; unset: an empty directory per attempt
    approval_check_seconds: float = Field(default=30.0, gt=0, le=3600)  # how often expiries are looked for
    run_lease_seconds: float = Field(default=60.0, ge=5)

    @field_validator(
        "slack_bot_token",
        "slack_signing_secret",
        "slack_app_token",
        "audit_channel",
        "api_token",
        "audit_key",
        "webhook_token",
        "webhook_secret",
        "result_webhook_url",
        "public_url",
        "alertmanager_default_category",
        "alertmanager_default_confidence",
        "alertmanager_default_creator",
        "alertmanager_dedup_label",
        "grafana_webhook_secret",
        "grafana_webhook_timestamp_header",
        "grafana_default_category",
        "grafana_default_confidence",
        "grafana_default_creator",
        "grafana_dedup_label",
        "pagerduty_default_category",
        "pagerduty_default_confidence",
        "pagerduty_default_creator",
        "pagerduty_dedup_label",
        "pagerduty_api_token",
        "pagerduty_from_email",
        "opsgenie_webhook_token",
        "opsgenie_api_key",
        "runbook_secrets_dir",
        "opsgenie_default_category",
        "opsgenie_default_confidence",
        "opsgenie_default_creator",
        "opsgenie_dedup_label",
        "datadog_webhook_token",
        "datadog_default_category",
        "datadog_default_confidence",
        "datadog_default_creator",
        "datadog_dedup_label",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        """`API_TOKEN=` in .env means no token, not an empty one."""
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("runbook_secrets_env", mode="before")
    @classmethod
    def _split_names(cls, value: object) -> object:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        for name in value if isinstance(value, list) else []:
            if not SECRET_NAME.match(str(name)):
                raise ValueError(f"{name!r} is not an environment variable's name")
        return value

    @field_validator("runbook_secrets_dir")
    @classmethod
    def _secrets_dir(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_dir():
            raise ValueError(f"{value} is not a directory")
        return value

    def runbook_secrets(self) -> SecretStore:
        return SecretStore(self.runbook_secrets_env, self.runbook_secrets_dir)

    @field_validator("pagerduty_webhook_secrets", mode="before")
    @classmethod
    def _split_secrets(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("admin_users", mode="before")
    @classmethod
    def _split_admins(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.replace(";", ",").split(",") if part.strip()]
        return value

    @field_validator("admin_users")
    @classmethod
    def _slack_user_ids(cls, value: list[str]) -> list[str]:
        for user in value:
            if not SLACK_USER_ID.match(user):
                raise ValueError(f"{user!r} is not a Slack user ID (U... or W...: a profile's member ID)")
        return value

    @field_validator(
        "slack_api_url", "result_webhook_url", "public_url", "pagerduty_api_url", "opsgenie_api_url"
    )
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and urlparse(value).scheme not in ("http", "https"):
            raise ValueError(f"{value!r} is not an http:// or https:// URL")
        return value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return level

    @field_validator("callback_allowed_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: object) -> object:
        return (
            [part.strip() for part in value.split(",") if part.strip()] if isinstance(value, str) else value
        )

    @field_validator("api_tokens", mode="before")
    @classmethod
    def _named_tokens(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        named: dict[str, str] = {}
        for entry in (part.strip() for part in value.split(",")):
            if not entry:
                continue
            name, colon, token = entry.partition(":")
            if not colon or not API_TOKEN_NAME.match(name) or not token.strip():
                raise ValueError("expected name:token,name:token (names: letters, digits, - and _)")
            if name in named:
                raise ValueError(f"the name {name!r} is given twice")
            named[name] = token.strip()
        if len(set(named.values())) != len(named):
            raise ValueError("two names share one token: each caller needs its own")
        return named

    def api_credentials(self) -> dict[str, SecretStr]:
        """Every API token by the name that acts with it (API_TOKEN's is `api`)."""
        unnamed = {"api": self.api_token} if self.api_token is not None else {}
        return {**unnamed, **{f"api:{name}": token for name, token in self.api_tokens.items()}}

    @field_validator("command_workdir")
    @classmethod
    def _existing_directory(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_dir():
            raise ValueError(f"{value} is not a directory")
        return value

    @model_validator(mode="after")
    def _slack_credentials_go_together(self) -> Settings:
        if self.slack_bot_token is None:
            if self.slack_app_token is not None:
                raise ValueError("SLACK_APP_TOKEN (Socket Mode) also needs SLACK_BOT_TOKEN")
            return self
        if self.slack_signing_secret is None and self.slack_app_token is None:
            raise ValueError(
                "SLACK_BOT_TOKEN needs SLACK_SIGNING_SECRET (HTTP mode) or SLACK_APP_TOKEN (Socket Mode)"
            )
        return self

    @model_validator(mode="after")
    def _pagerduty_token_needs_an_email(self) -> Settings:
        if self.pagerduty_api_token is not None and not self.pagerduty_from_email:
            raise ValueError(
                "PAGERDUTY_API_TOKEN needs PAGERDUTY_FROM_EMAIL (PagerDuty asks who acts, by e-mail)"
            )
        return self

    @model_validator(mode="after")
    def _several_processes_need_postgresql(self) -> Settings:
        if self.processes > 1 and not self.database_url.startswith(("postgresql://", "postgres://")):
            raise ValueError(
                f"PROCESSES={self.processes} needs DATABASE_URL=postgresql://...: the processes are "
                "replicas of each other, and SQLite has one writer"
            )
        return self

    @model_validator(mode="after")
    def _refuse_open_public_bind(self) -> Settings:
        if is_loopback(self.host):
            return self
        missing = []
        if self.api_token is None and not self.api_tokens:
            missing.append("API_TOKEN (or API_TOKENS)")
        if self.webhook_token is None and self.webhook_secret is None:
            missing.append("WEBHOOK_TOKEN or WEBHOOK_SECRET")
        if missing:
            raise ValueError(
                f"HOST={self.host} accepts connections from other machines, so "
                f"{' and '.join(missing)} must be set (or bind HOST=127.0.0.1)"
            )
        return self

    @property
    def offline(self) -> bool:
        """No bot token: Slack messages are printed instead of sent."""
        return self.slack_bot_token is None
