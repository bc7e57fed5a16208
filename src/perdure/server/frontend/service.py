"""The frontend: every RPC group behind one object that the gRPC server serves."""

from __future__ import annotations

from perdure.server.frontend.deletion import DeletionRpcs
from perdure.server.frontend.interactions import InteractionRpcs
from perdure.server.frontend.limits import DEFAULT, Limits
from perdure.server.frontend.reset import ResetRpcs
from perdure.server.frontend.system import SystemRpcs
from perdure.server.frontend.tasks import TaskRpcs
from perdure.server.frontend.visibility import VisibilityRpcs
from perdure.server.frontend.workflows import WorkflowRpcs
from perdure.server.history.history_pages import HistoryPages
from perdure.server.history.service import HistoryService
from perdure.server.matching.queries import QueryRegistry
from perdure.server.matching.queues import Matching
from perdure.server.namespaces import NamespaceRegistry
from perdure.server.store.base import Store


class Frontend(
    TaskRpcs,
    WorkflowRpcs,
    InteractionRpcs,
    SystemRpcs,
    VisibilityRpcs,
    DeletionRpcs,
    ResetRpcs,
):
    """Validates each request and turns it into history, matching and store calls."""

    def __init__(
        self,
        *,
        namespaces: NamespaceRegistry,
        history: HistoryService,
        matching: Matching,
        store: Store,
        visibility_dialect: str,
        limits: Limits = DEFAULT,
        cluster_id: str = "perdure",
    ) -> None:
        self.namespaces = namespaces
        self.history = history
        self.matching = matching
        self.store = store
        self.limits = limits
        self.visibility_dialect = visibility_dialect
        self.cluster_id = cluster_id
        self.history_pages = HistoryPages(history)
        self.queries = QueryRegistry()
        history.commit_listeners.append(self.reroute_waiting_queries)
        history.dispatchers.append(self.dispatch_directly)
