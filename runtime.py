"""The composition root: settings in, a wired bot out (database, runbooks, engine, worker, Slack)."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from slack_bolt import App

from engine import autonomy, outcomes
from engine.approvals import expire_approvals
from engine.audit_checkpoints import Checkpoints
from engine.autonomy import Mode, settings_for
from engine.calibration import Policy, post_weekly_summary
from engine.configuration import ConfigurationService
from engine.console import ConsoleNotifier
from engine.events import FanOut, Notifier
from engine.interventions import Interventions
from engine.permissions import Authorizer
from engine.reports import record_delivery_failure
from engine.runbook_library import RunbookLibrary
from engine.runbooks import RunbookCatalog
from engine.runner import RunExecutor
from engine.scheduling import every
from engine.service import ResolutionService
from engine.worker import RunWorker, instance_id
from handlers.metrics import Metrics
from handlers.refusals import RefusalLog
from handlers.services import Services
from handlers.slack.delivery.announcer import SlackNotifier
from handlers.slack.delivery.deliverer import SlackDelivery
from handlers.slack.delivery.web_client import KeepAliveWebClient
from handlers.slack.listeners.bolt_app import build_bolt_app, web_client
from handlers.slack.listeners.services import SlackServices
from handlers.slack.listeners.socket_mode import SocketModeConnection
from handlers.webhooks.delivery import WebhookDelivery
from handlers.webhooks.destinations import CallbackPolicy
from handlers.webhooks.opsgenie_api import OpsgenieDelivery
from handlers.webhooks.pagerduty_api import PagerDutyDelivery, PagerDutyUsers
from handlers.webhooks.resolve_back import ResolveBack
from handlers.webhooks.results import ResultCallbacks
from handlers.webhooks.vendor_api import VendorDelivery
from settings import Settings
from storage import migrations, outbox, seen_signatures
from storage.audit_chain import AuditChain
from storage.audit_key import load_audit_key
from storage.database import bind, db_connection, is_postgres, open_database
from storage.fields import utcnow
from storage.group_commit import GroupCommitter
from storage.outbox import OutboxMessage
from storage.wal_checkpoints import WalCheckpointer

log = logging.getLogger(__name__)
OUTBOX_POLL_SECONDS = 0.25
WEBHOOK_POLL_SECONDS = 0.5
SETTLE_OUTCOMES_SECONDS = 60.0
REVIEW_SECONDS = 3600.0  # how often the evidence is read for autonomy proposals (and the weekly summary)
AUTONOMY_EVIDENCE_DAYS = 30  # how often resolutions that held are marked fixed
RUNBOOKS_FOLLOW_SECONDS = 2.0  # how soon a replica follows a reload made elsewhere (or by the CLI)
PRUNE_OUTBOX_SECONDS = 3600.0


@dataclass
class SlackRuntime:
    client: KeepAliveWebClient
    bolt: App
    delivery: SlackDelivery
    socket_mode: SocketModeConnection | None  # with SLACK_APP_TOKEN: commands arrive over a WebSocket


@dataclass
class Runtime:
    settings: Settings
    runbooks: RunbookLibrary  # the runbooks in force; reloaded without a restart
    notifier: Notifier
    authorizer: Authorizer
    configuration: ConfigurationService
    resolution: ResolutionService
    interventions: Interventions
    worker: RunWorker
    scheduler: BackgroundScheduler
    webhook_delivery: WebhookDelivery
    metrics: Metrics
    checkpoints: Checkpoints  # seals the audit chain and anchors its head outside the database
    slack: SlackRuntime | None = None
    # Resolving back in the vendors whose API credentials are set (PagerDuty, Opsgenie)
    vendor_deliveries: list[VendorDelivery] = field(default_factory=list)
    pagerduty_users: PagerDutyUsers | None = None  # with PAGERDUTY_API_TOKEN: who triggered an incident
    refusals: RefusalLog = field(default_factory=RefusalLog)  # unauthenticated refusals, collapsed
    callback_policy: CallbackPolicy = field(default_factory=CallbackPolicy)  # where callbacks may go
    # SQLite: the write-ahead log copied apart from the commits (open_database's checkpoints_apart)
    wal_checkpoints: WalCheckpointer | None = None

    @property
    def catalog(self) -> RunbookCatalog:
        return self.runbooks()

    def start(self) -> None:
        self.worker.start()
        if self.wal_checkpoints is not None:
            self.wal_checkpoints.start()
        every(self.scheduler, RUNBOOKS_FOLLOW_SECONDS, "follow-runbooks-reloads", self.runbooks.follow)
        every(self.scheduler, WEBHOOK_POLL_SECONDS, "deliver-result-callbacks", self.webhook_delivery.tick)
        for vendor in self.vendor_deliveries:
            every(self.scheduler, WEBHOOK_POLL_SECONDS, f"resolve-back-in-{vendor.transport}", vendor.tick)
        every(self.scheduler, 60, "forget-expired-signatures", seen_signatures.forget_expired)
        every(self.scheduler, SETTLE_OUTCOMES_SECONDS, "settle-outcomes", self._settle_outcomes)
        if self.settings.autonomy_proposals:
            every(self.scheduler, REVIEW_SECONDS, "review-autonomy", self._review_autonomy, first_after=60)
        if self.settings.calibration_weekly_summary:
            every(self.scheduler, REVIEW_SECONDS, "calibration-summary", self._weekly_summary, first_after=60)
        every(self.scheduler, 1.0, "seal-audit-chain", self.checkpoints.seal)
        every(
            self.scheduler, self.settings.approval_check_seconds, "expire-approvals", self._expire_approvals
        )
        # hourly, and a minute after start-up: a bot restarted more often than hourly prunes too
        every(self.scheduler, PRUNE_OUTBOX_SECONDS, "prune-outbox", self._prune_outbox, first_after=60)
        if self.slack is not None:
            every(self.scheduler, OUTBOX_POLL_SECONDS, "deliver-slack-outbox", self.slack.delivery.tick)
        self.scheduler.start()
        if self.slack is not None and self.slack.socket_mode is not None:
            self.slack.socket_mode.start()

    @property
    def services(self) -> Services:
        """What the HTTP faces use (handlers/services.py); the app starts and stops the rest."""
        return Services(
            settings=self.settings,
            configuration=self.configuration,
            resolution=self.resolution,
            refusals=self.refusals,
            callback_policy=self.callback_policy,
            metrics_registry=self.metrics.registry,
            calibration_policy=calibration_policy(self.settings),
            bolt=self.slack.bolt if self.slack else None,
            pagerduty_users=self.pagerduty_users,
            start=self.start,
            stop=self.stop,
        )

    def _settle_outcomes(self) -> None:
        settled = outcomes.settle(timedelta(seconds=self.settings.outcome_settle_seconds))
        if settled:
            log.info("%d resolution(s) stayed resolved through the settle window", settled)

    def _review_autonomy(self) -> None:
        since = utcnow() - timedelta(days=AUTONOMY_EVIDENCE_DAYS)
        proposed = autonomy.review(self.resolution.notifier, calibration_policy(self.settings), since)
        for proposal in proposed:
            log.info("autonomy: %s could go %s -> %s", proposal.category, proposal.current, proposal.proposed)

    def _weekly_summary(self) -> None:
        post_weekly_summary(self.resolution.notifier, calibration_policy(self.settings))

    def _expire_approvals(self) -> None:
        with db_connection():
            expired = expire_approvals(self.resolution.notifier)
        if expired:
            log.info("%d approval request(s) expired unanswered", expired)

    def _prune_outbox(self) -> None:
        retention = timedelta(days=self.settings.outbox_retention_days)
        removed = outbox.prune_settled(older_than=retention)
        if removed:
            log.info("pruned %d delivered outbox messages older than %s", removed, retention)

    def stop(self, grace_seconds: float = 10.0) -> None:
        if self.slack is not None and self.slack.socket_mode is not None:
            self.slack.socket_mode.close()  # no more commands (over HTTP, uvicorn has stopped taking them)
        self.worker.stop(grace_seconds)
        if self.scheduler.running:
            # Jobs in flight (a delivery tick, sealing) finish first: they are short (Slack calls
            # time out after 10 s), and one cut off mid-statement could outlive the database.
            self.scheduler.shutdown(wait=True)
        self.refusals.flush(everything=True)  # the counts of refusals still being collapsed
        if self.slack is not None:
            self.slack.delivery.close()
            self.slack.client.close()
        self.webhook_delivery.close()
        for vendor in self.vendor_deliveries:
            vendor.close()
        if self.pagerduty_users is not None:
            self.pagerduty_users.close()
        self.resolution.stop()
        if self.wal_checkpoints is not None:
            self.wal_checkpoints.stop()
        self.worker.executor.writes.stop()


def _give_up(message: OutboxMessage, error: str) -> None:
    record_delivery_failure(
        incident_id=message.incident_id, purpose=message.purpose, target=message.target, error=error
    )


def people_notifier(settings: Settings) -> Notifier:
    """How people hear of what happens: Slack messages queued in the outbox when Slack is
    configured (the running bot delivers them), else lines on the console."""
    if settings.slack_bot_token is not None:
        return SlackNotifier(settings.audit_channel, admins=settings.admin_users)
    return ConsoleNotifier(settings.audit_channel)


def calibration_policy(settings: Settings) -> Policy:
    return Policy(
        settings.calibration_target, settings.calibration_confidence, settings.calibration_min_outcomes
    )


def vendor_apis(settings: Settings, owner: str) -> tuple[list[VendorDelivery], PagerDutyUsers | None]:
    """The vendors' REST APIs whose credentials are set: their deliveries (resolving back), and
    PagerDuty's user lookup."""
    vendors: list[VendorDelivery] = []
    users = None
    if settings.pagerduty_api_token is not None and settings.pagerduty_from_email:
        token = settings.pagerduty_api_token.get_secret_value()
        vendors.append(
            PagerDutyDelivery(
                owner=owner,
                token=token,
                from_email=settings.pagerduty_from_email,
                api_url=settings.pagerduty_api_url,
                on_give_up=_give_up,
            )
        )
        users = PagerDutyUsers(
            token=token, from_email=settings.pagerduty_from_email, api_url=settings.pagerduty_api_url
        )
    if settings.opsgenie_api_key is not None:
        vendors.append(
            OpsgenieDelivery(
                owner=owner,
                api_key=settings.opsgenie_api_key.get_secret_value(),
                api_url=settings.opsgenie_api_url,
                on_give_up=_give_up,
            )
        )
    return vendors, users


def build_runtime(settings: Settings, *, notifier: Notifier | None = None) -> Runtime:
    """Load runbooks, open and upgrade the database, wire engine and Slack. Raises on bad configuration."""
    library = RunbookLibrary(settings.runbooks_file, settings.runbook_secrets())
    bind(open_database(settings.database_url, pool_size=settings.database_pool_size, checkpoints_apart=True))
    applied = migrations.upgrade()
    if applied:
        log.info("database upgraded to schema version %d", applied[-1])
    library.start_following()
    audit_key = settings.audit_key.get_secret_value() if settings.audit_key else None
    chain = AuditChain(load_audit_key(audit_key, settings.audit_key_file, create=True))
    problem = chain.adopt_key()
    if problem is not None:
        log.error("audit chain: %s; nothing is sealed until that is settled", problem)
    owner = instance_id()
    client = web_client(settings) if settings.slack_bot_token is not None else None
    if notifier is None:
        if client is not None and not settings.audit_channel:
            log.warning("AUDIT_CHANNEL is not set: only DMs will be sent to Slack")
        notifier = people_notifier(settings)
    # People hear through `notifier`; sending tools get results through their callbacks.
    metrics = Metrics(catalog=library)
    told = [notifier, ResultCallbacks(settings.result_webhook_url, settings.public_url), metrics]
    vendors, pagerduty_users = vendor_apis(settings, owner)
    if vendors:
        told.append(ResolveBack(settings.public_url, [vendor.source for vendor in vendors]))
    everyone = FanOut(*told)
    library.notifier = everyone  # a reload is told in the audit channel
    authorizer = Authorizer(admins=settings.admin_users, killswitch_anyone=settings.killswitch_anyone)
    callback_policy = CallbackPolicy(allowed=tuple(settings.callback_allowed_hosts))
    configuration = ConfigurationService(everyone, settings_for(Mode(settings.new_category_mode)))
    resolution = ResolutionService(
        catalog=library,
        notifier=everyone,
        dedup_window=timedelta(seconds=settings.dedup_window_seconds),
        outcome_settle=timedelta(seconds=settings.outcome_settle_seconds),
    )
    interventions = Interventions(resolution=resolution, authorizer=authorizer, notifier=everyone)
    writes = GroupCommitter()  # the runs' stages and the Slack outbox's marks share its commits
    executor = RunExecutor(
        catalog=library,
        notifier=everyone,
        cancel=threading.Event(),
        on_finished=resolution.run_finished,
        writes=writes,
        stop_poll_seconds=settings.kill_switch_poll_seconds,
        command_workdir=str(settings.command_workdir) if settings.command_workdir else None,
    )
    scheduler = BackgroundScheduler(timezone="UTC")
    worker = RunWorker(
        executor=executor,
        configuration=configuration,
        owner=owner,
        scheduler=scheduler,
        lease_seconds=settings.run_lease_seconds,
        poll_seconds=settings.worker_poll_seconds,
    )
    resolution.wake_worker = worker.wake  # queued runs start at once, not at the next poll
    slack = None
    if client is not None:
        services = SlackServices(
            configuration=configuration,
            interventions=interventions,
            authorizer=authorizer,
            catalog=library,
            calibration_policy=calibration_policy(settings),
        )
        bolt = build_bolt_app(settings, services, client)
        app_token = settings.slack_app_token
        slack = SlackRuntime(
            client=client,
            bolt=bolt,
            socket_mode=SocketModeConnection(bolt, app_token.get_secret_value()) if app_token else None,
            delivery=SlackDelivery(
                client,
                owner=owner,
                on_give_up=_give_up,
                per_channel_rate=settings.slack_channel_rate,
                per_channel_burst=settings.slack_channel_burst,
                updates_per_minute=settings.slack_updates_per_minute,
                workspace_rate=settings.slack_workspace_rate,
                workspace_burst=settings.slack_workspace_burst,
                call_timeout_seconds=settings.slack_timeout_seconds,
                writes=writes,
            ),
        )
    return Runtime(
        settings=settings,
        runbooks=library,
        notifier=notifier,
        authorizer=authorizer,
        configuration=configuration,
        resolution=resolution,
        interventions=interventions,
        worker=worker,
        scheduler=scheduler,
        webhook_delivery=WebhookDelivery(
            owner=owner,
            secret=settings.webhook_secret.get_secret_value() if settings.webhook_secret else None,
            on_give_up=_give_up,
            policy=callback_policy,
            trusted_url=settings.result_webhook_url,
        ),
        callback_policy=callback_policy,
        wal_checkpoints=None if is_postgres() else WalCheckpointer(),
        metrics=metrics,
        checkpoints=Checkpoints(
            chain,
            settings.audit_checkpoint_file,
            everyone,
            interval_seconds=settings.audit_checkpoint_seconds,
        ),
        slack=slack,
        vendor_deliveries=vendors,
        pagerduty_users=pagerduty_users,
    )
