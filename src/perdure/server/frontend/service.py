"""The frontend: every RPC group behind one object that the gRPC server serves.

Its collaborators come in at construction (server/app.py builds them); the handlers
validate and shape, and call the history operations (history/api/), matching and the
store.
"""

from __future__ import annotations

from perdure.server.batch.runner import BatchRunner
from perdure.server.frontend.activity_operator import ActivityOperatorRpcs
from perdure.server.frontend.batch import BatchRpcs
from perdure.server.frontend.clusters import ClusterRpcs
from perdure.server.frontend.deletion import DeletionRpcs
from perdure.server.frontend.interactions import InteractionRpcs
from perdure.server.frontend.limits import DEFAULT, Limits
from perdure.server.frontend.namespace_deletion import NamespaceDeletionRpcs
from perdure.server.frontend.reset import ResetRpcs
from perdure.server.frontend.schedules import ScheduleRpcs
from perdure.server.frontend.system import MIN_RETENTION_SECONDS, SystemRpcs
from perdure.server.frontend.tasks import TaskRpcs
from perdure.server.frontend.unsupported import UnsupportedRpcs
from perdure.server.frontend.visibility import VisibilityRpcs
from perdure.server.frontend.workers import WorkerRpcs
from perdure.server.frontend.workflows import WorkflowRpcs
from perdure.server.history.api.delete_namespace import NamespaceDeletion
from perdure.server.history.history_pages import HistoryPages
from perdure.server.history.service import HistoryService
from perdure.server.matching.queries import QueryRegistry
from perdure.server.matching.query_routing import QueryRouter
from perdure.server.matching.queues import Matching
from perdure.server.matching.shared import QueryBridge
from perdure.server.matching.workers import WorkerRegistry
from perdure.server.namespaces import NamespaceRegistry
from perdure.server.schedules.scheduler import Scheduler
from perdure.server.store.base import Store


class Frontend(
    TaskRpcs,
    WorkflowRpcs,
    InteractionRpcs,
    SystemRpcs,
    VisibilityRpcs,
    DeletionRpcs,
    ResetRpcs,
    ActivityOperatorRpcs,
    WorkerRpcs,
    NamespaceDeletionRpcs,
    ClusterRpcs,
    ScheduleRpcs,
    BatchRpcs,
    UnsupportedRpcs,
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
        queries: QueryRegistry,
        query_router: QueryRouter,
        scheduler: Scheduler,
        batch_runner: BatchRunner,
        query_bridge: QueryBridge | None = None,
        limits: Limits = DEFAULT,
        cluster_id: str = "perdure",
        min_retention_seconds: float = MIN_RETENTION_SECONDS,
        workers: WorkerRegistry | None = None,
    ) -> None:
        self.namespaces = namespaces
        self.history = history
        self.matching = matching
        self.store = store
        self.limits = limits
        self.visibility_dialect = visibility_dialect
        self.cluster_id = cluster_id
        self.min_retention_seconds = min_retention_seconds
        self.history_pages = HistoryPages(history)
        self.queries = queries
        self.query_router = query_router
        self.query_bridge = query_bridge
        self.workers = workers or WorkerRegistry()
        self.namespace_deletion = NamespaceDeletion(history, namespaces, visibility_dialect)
        self.scheduler = scheduler
        self.batch_runner = batch_runner
