"""Requests per second, per namespace, per client and for the whole server: token buckets
in front of every call, answering RESOURCE_EXHAUSTED as Temporal's frontend does.

Limits come from the dynamic config (frontend.namespaceRPS, frontend.rps,
perdure.clientRPS; 0 or absent: no limit). A bucket holds `rps * burst ratio` tokens
(Temporal's default ratio: 2) and refills continuously; each call takes one. A client is
its credentials (the `authorization` header) or, without any, its address.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable

from google.protobuf.message import Message
from temporalio.api.enums.v1 import failed_cause_pb2 as causes

from perdure.server.dynamic_config import DynamicConfig
from perdure.server.errors import ResourceExhausted
from perdure.server.frontend.deadline import Deadline
from perdure.server.frontend.dispatch import Call, Next
from perdure.server.token_bucket import TokenBucket

DEFAULT_BURST_RATIO = 2.0
MAX_BUCKETS = 10_000
"""Clients remembered at once (the least recently seen are forgotten first)."""


class RateLimiter:
    """The buckets; `admit` says which limit, if any, refuses a call at `now`."""

    def __init__(self, config: DynamicConfig) -> None:
        self.config = config
        self._service: TokenBucket | None = None
        self._namespaces: OrderedDict[str, TokenBucket] = OrderedDict()
        self._clients: OrderedDict[str, TokenBucket] = OrderedDict()

    def _bucket(
        self, buckets: OrderedDict[str, TokenBucket], key: str, rate: float, now: float
    ) -> TokenBucket:
        bucket = buckets.get(key)
        ratio = self.config.number("frontend.namespaceBurstRatio", DEFAULT_BURST_RATIO)
        if bucket is None or bucket.rate != rate:
            bucket = buckets[key] = TokenBucket.full(rate, ratio, now)
        buckets.move_to_end(key)
        while len(buckets) > MAX_BUCKETS:
            buckets.popitem(last=False)
        return bucket

    def admit(self, namespace: str, client: str, now: float) -> ResourceExhausted | None:
        service_rate = self.config.number("frontend.rps", 0)
        if service_rate > 0:
            if self._service is None or self._service.rate != service_rate:
                self._service = TokenBucket.full(service_rate, DEFAULT_BURST_RATIO, now)
            if not self._service.take(now):
                return ResourceExhausted(
                    "service rate limit exceeded",
                    causes.RESOURCE_EXHAUSTED_CAUSE_RPS_LIMIT,
                    causes.RESOURCE_EXHAUSTED_SCOPE_SYSTEM,
                )
        ns_rate = self.config.number("frontend.namespaceRPS", 0, namespace or None)
        if (
            namespace
            and ns_rate > 0
            and not self._bucket(self._namespaces, namespace, ns_rate, now).take(now)
        ):
            return ResourceExhausted(
                "namespace rate limit exceeded",
                causes.RESOURCE_EXHAUSTED_CAUSE_RPS_LIMIT,
                causes.RESOURCE_EXHAUSTED_SCOPE_NAMESPACE,
            )
        client_rate = self.config.number("perdure.clientRPS", 0)  # server-wide only
        if client_rate > 0 and not self._bucket(self._clients, client, client_rate, now).take(now):
            return ResourceExhausted(
                "client rate limit exceeded", causes.RESOURCE_EXHAUSTED_CAUSE_RPS_LIMIT
            )
        return None


def client_key(call: Call) -> str:
    """Who a call counts against: its credentials (hashed), else its address."""
    token = call.headers.get("authorization", "")
    if token:
        return "key:" + hashlib.sha256(token.encode()).hexdigest()[:32]
    host, _, _port = call.peer.rpartition(":")
    return "peer:" + (host or call.peer)


class RateLimitInterceptor:
    """Refuses a call over a limit before anything else runs."""

    def __init__(self, config: DynamicConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self.limiter = RateLimiter(config)
        self._clock = clock

    async def intercept(
        self, call: Call, request: Message, deadline: Deadline, proceed: Next
    ) -> Message:
        namespace = ""
        if "namespace" in request.DESCRIPTOR.fields_by_name:
            namespace = str(getattr(request, "namespace", ""))
        refused = self.limiter.admit(namespace, client_key(call), self._clock())
        if refused is not None:
            raise refused
        return await proceed(request, deadline)


def rate_limited(config: DynamicConfig) -> bool:
    """Whether `config` sets any request rate limit (else no interceptor is needed)."""
    keys = ("frontend.rps", "frontend.namespaceRPS", "perdure.clientRPS")
    if any(config.number(k, 0) > 0 for k in keys):
        return True
    return any(config.number("frontend.namespaceRPS", 0, ns) > 0 for ns in config.namespaces)
