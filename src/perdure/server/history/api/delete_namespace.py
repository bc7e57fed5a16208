"""DeleteNamespace: the namespace goes at once, its executions in the background.

As Temporal does, the namespace is renamed `<name>-deleted-<first 5 of its id>` and
marked DELETED in one update (so its name can be registered again at once), then every
run it holds is deleted as DeleteWorkflowExecution would (a running one is terminated
first), page by page over its visibility rows. A deletion cut short (the server stopped)
leaves runs behind in the renamed namespace; nothing else refers to them.
"""

from __future__ import annotations

import asyncio
import logging

from temporalio.api.common.v1 import message_pb2 as common_pb2
from temporalio.api.enums.v1 import namespace_pb2 as ns_enums
from temporalio.api.namespace.v1 import message_pb2 as namespace_pb2
from temporalio.api.workflowservice.v1 import request_response_pb2 as rr

from perdure.server.errors import NotFound, ServiceError
from perdure.server.history.api.delete_workflow import delete_workflow
from perdure.server.history.service import HistoryService
from perdure.server.namespaces import Namespace, NamespaceRegistry
from perdure.server.visibility.sql import compile_query

log = logging.getLogger(__name__)

PAGE_SIZE = 200


def deleted_name(ns: Namespace) -> str:
    return f"{ns.name}-deleted-{ns.id[:5]}"


class NamespaceDeletion:
    """Renames and marks namespaces deleted, and removes their executions afterwards."""

    def __init__(
        self, history: HistoryService, namespaces: NamespaceRegistry, dialect: str
    ) -> None:
        self._history = history
        self._namespaces = namespaces
        self._dialect = dialect
        self._tasks: set[asyncio.Task[None]] = set()

    async def delete(self, ns: Namespace) -> str:
        """Mark `ns` deleted under its new name (returned); its runs go in the background."""
        info = namespace_pb2.NamespaceInfo()
        info.CopyFrom(ns.info)
        info.name = deleted_name(ns)
        info.state = ns_enums.NAMESPACE_STATE_DELETED
        gone = Namespace(ns.id, info.name, info, ns.config, ns.version + 1)
        await self._namespaces.update(gone, ns.version)
        task = asyncio.ensure_future(self._delete_executions(gone))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return gone.name

    async def _delete_executions(self, ns: Namespace) -> None:
        query = compile_query("", aliases={}, dialect=self._dialect)
        seen: set[tuple[str, str]] = set()
        try:
            while True:
                # Each round lists afresh: the rows deleted meanwhile are gone from it. A
                # run whose removal waits for its deletion timer (its close left work for
                # a parent or children) stays listed: seen once is enough.
                page = await self._history.store.list_visibility(ns.id, query, PAGE_SIZE, b"")
                rows = [r for r in page.items if (r.workflow_id, r.run_id) not in seen]
                if not rows:
                    break
                for row in rows:
                    seen.add((row.workflow_id, row.run_id))
                    await self._delete_run(ns, row.workflow_id, row.run_id)
        except ServiceError as err:
            log.warning("deleting the executions of namespace %s: %s", ns.name, err)
        log.info("namespace %s deleted with %d executions", ns.name, len(seen))

    async def _delete_run(self, ns: Namespace, workflow_id: str, run_id: str) -> None:
        request = rr.DeleteWorkflowExecutionRequest(
            namespace=ns.name,
            workflow_execution=common_pb2.WorkflowExecution(workflow_id=workflow_id, run_id=run_id),
        )
        try:
            await delete_workflow(self._history, ns, request)
        except NotFound:
            pass  # deleted meanwhile

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
