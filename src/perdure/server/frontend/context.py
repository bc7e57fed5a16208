"""What every frontend handler shares: the services behind the RPCs."""

from __future__ import annotations

from collections.abc import Callable

from temporalio.api.common.v1 import message_pb2 as common_pb2

from perdure.server.errors import InvalidArgument
from perdure.server.frontend.limits import Limits, check_payloads
from perdure.server.history.api.start_workflow import StartRequest
from perdure.server.history.api.start_workflow import check_request as check_start_request
from perdure.server.history.history_pages import HistoryPages
from perdure.server.history.service import HistoryService
from perdure.server.matching.queries import QueryRegistry
from perdure.server.matching.query_routing import QueryRouter
from perdure.server.matching.queues import Matching
from perdure.server.matching.shared import QueryBridge
from perdure.server.matching.workers import WorkerRegistry
from perdure.server.namespaces import Namespace, NamespaceRegistry
from perdure.server.store.base import Store
from perdure.server.visibility import decode_search_attributes

SearchAttributesValidator = Callable[[common_pb2.SearchAttributes], None]


class FrontendContext:
    """Base of the RPC handler mixins; `Frontend` sets these at construction."""

    namespaces: NamespaceRegistry
    history: HistoryService
    matching: Matching
    store: Store
    limits: Limits
    history_pages: HistoryPages
    queries: QueryRegistry
    query_router: QueryRouter
    query_bridge: QueryBridge | None
    """Set when several server processes share the database (matching/shared.py)."""
    min_retention_seconds: float
    """Shortest namespace retention accepted (Temporal's is 1 hour; tests lower it)."""
    cluster_id: str
    workers: WorkerRegistry
    """The workers known from their heartbeats (ListWorkers)."""

    def check_start(self, ns: Namespace, request: StartRequest) -> None:
        """Validate a start (plain, signal-with-start, or update-with-start's) and its sizes."""
        check_start_request(request)
        check_payloads(request.input, "input", self.limits)
        if request.memo.ByteSize() > self.limits.memo_size_error:
            raise InvalidArgument("Memo size exceeds limit.")
        if request.HasField("search_attributes"):
            self.check_search_attributes(ns, request.search_attributes)

    def check_search_attributes(self, ns: Namespace, sa: common_pb2.SearchAttributes) -> None:
        """Refuse custom search attributes the namespace has not registered, or of the
        wrong type (InvalidArgument, as Temporal)."""
        decode_search_attributes(sa, ns.search_attribute_aliases, namespace=ns.name)

    def search_attribute_validator(self, ns: Namespace) -> SearchAttributesValidator | None:
        """Checks custom search attributes against the namespace's registered types."""
        aliases = ns.search_attribute_aliases

        def validate(sa: common_pb2.SearchAttributes) -> None:
            decode_search_attributes(sa, aliases, namespace=ns.name)

        return validate
