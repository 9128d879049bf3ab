"""Where an outbox message goes and what it is for: its lane (the queue it waits in, one per Slack
channel, DM recipient or callback URL), the transport that delivers it, and its purpose.

Messages in one lane are delivered in order, and one lane's trouble never holds up another. A lane is
written `kind:address` in its column; code only ever handles the typed `Lane`."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import peewee


class Transport(StrEnum):
    """Which deliverer takes a lane's messages."""

    SLACK = "slack"
    WEBHOOK = "webhook"
    PAGERDUTY = "pagerduty"
    OPSGENIE = "opsgenie"


class Purpose(StrEnum):
    """What a message is for (recorded when it is given up, and read by the deliverer)."""

    CREATOR_DM = "creator_dm"
    ADMIN_DM = "admin_dm"
    AUDIT_INCIDENT = "audit_incident"  # the incident's own message in the audit channel
    AUDIT_STEP = "audit_step"  # an entry in the incident's thread
    AUDIT_NOTICE = "audit_notice"  # kill switch, configuration, checkpoint, pause notices
    RESULT_CALLBACK = "result_callback"
    RESOLVE_BACK = "resolve_back"  # the incident resolved in the system it came from (PagerDuty, Opsgenie)


class LaneKind(StrEnum):
    SLACK_CHANNEL = "channel"
    SLACK_DM = "dm"  # the address is a Slack user ID or an e-mail address, looked up when sent
    WEBHOOK = "webhook"  # the address is the callback URL
    PAGERDUTY = "pagerduty"  # the address is the PagerDuty incident's id
    OPSGENIE = "opsgenie"  # the address is the Opsgenie (or JSM) alert's id

    @property
    def transport(self) -> Transport:
        match self:
            case LaneKind.SLACK_CHANNEL | LaneKind.SLACK_DM:
                return Transport.SLACK
            case LaneKind.WEBHOOK:
                return Transport.WEBHOOK
            case LaneKind.PAGERDUTY:
                return Transport.PAGERDUTY
            case LaneKind.OPSGENIE:
                return Transport.OPSGENIE


@dataclass(frozen=True, order=True)
class Lane:
    kind: LaneKind
    address: str

    @classmethod
    def channel(cls, channel: str) -> Lane:
        return cls(LaneKind.SLACK_CHANNEL, channel)

    @classmethod
    def dm(cls, user: str) -> Lane:
        return cls(LaneKind.SLACK_DM, user)

    @classmethod
    def webhook(cls, url: str) -> Lane:
        return cls(LaneKind.WEBHOOK, url)

    @classmethod
    def parse(cls, text: str) -> Lane:
        kind, separator, address = text.partition(":")
        if not separator:
            raise ValueError(f"not a lane: {text!r}")
        return cls(LaneKind(kind), address)

    @property
    def transport(self) -> Transport:
        return self.kind.transport

    def __str__(self) -> str:
        return f"{self.kind.value}:{self.address}"


class LaneField(peewee.CharField):
    """A Lane in a text column (`kind:address`)."""

    def db_value(self, value: Any) -> Any:
        return super().db_value(str(value) if isinstance(value, Lane) else value)

    def python_value(self, value: Any) -> Any:
        return Lane.parse(value) if isinstance(value, str) else value
