"""Builds the webhook parts of a node from its settings: the endpoints' use case, the
delivery worker, and the housekeeping jobs that produce system-made events."""

from __future__ import annotations

from dataclasses import dataclass

from actors.domain.webhooks import DestinationPolicy, RetryPolicy
from actors.metrics import MetricsRegistry
from actors.node.presence import LocalPresence
from actors.ports.devices import PresenceReader
from actors.ports.uow import UnitOfWork
from actors.services.housekeeping import Job
from actors.services.webhook_dispatcher import DispatchConfig, WebhookDispatcher
from actors.settings import WebhookSettings
from actors.usecases.webhook_watch import ArrivalFeed, WatchConfig, WebhookWatch
from actors.usecases.webhooks import Webhooks
from store.webhook_http import HttpWebhookSender


@dataclass(frozen=True)
class WebhookParts:
    webhooks: Webhooks
    dispatcher: WebhookDispatcher
    watch: WebhookWatch
    jobs: tuple[Job, ...]


def policy_of(webhooks: WebhookSettings) -> DestinationPolicy:
    return DestinationPolicy.parse(
        allow_public=webhooks.allow_public,
        allowed_networks=webhooks.allowed_networks,
        allow_http=webhooks.allow_http,
    )


def build_webhooks(
    webhooks: WebhookSettings,
    uow: UnitOfWork,
    local: LocalPresence,
    presence: PresenceReader,
    metrics: MetricsRegistry,
) -> WebhookParts:
    policy = policy_of(webhooks)
    sender = HttpWebhookSender(policy, timeout_s=webhooks.timeout_s, ca_file=webhooks.ca_file)
    dispatcher = WebhookDispatcher(
        uow,
        sender,
        DispatchConfig(
            concurrency=webhooks.concurrency,
            poll_s=webhooks.poll_s,
            lease_s=webhooks.timeout_s + webhooks.lease_margin_s,
            retry=RetryPolicy(
                max_attempts=webhooks.max_attempts,
                base_s=webhooks.backoff_base_s,
                max_s=webhooks.backoff_max_s,
            ),
        ),
        metrics,
    )
    watch = WebhookWatch(
        uow,
        presence,
        WatchConfig(
            offline_after_s=webhooks.offline_after_s,
            delivery_check_s=webhooks.delivery_check_s,
            log_retention_s=webhooks.log_retention_s,
        ),
    )
    arrivals = ArrivalFeed(local.take_arrived, local.put_back_arrived, watch)
    every = webhooks.sweep_every_s
    jobs = (
        Job("webhooks: screens back online", webhooks.arrivals_every_s, arrivals.run_once),
        Job("webhooks: screens offline", every, watch.report_offline),
        Job("webhooks: emergency deliveries", every, watch.check_deliveries),
        Job("webhooks: delivery log retention", webhooks.purge_every_s, watch.purge),
    )
    endpoints = Webhooks(uow, policy, max_per_tenant=webhooks.max_per_tenant)
    return WebhookParts(webhooks=endpoints, dispatcher=dispatcher, watch=watch, jobs=jobs)
