"""OperatorService.DeleteNamespace (`temporal operator namespace delete`).

Validation here; the deletion is history/api/delete_namespace.py's.
"""

from __future__ import annotations

from temporalio.api.operatorservice.v1 import request_response_pb2 as op_rr

from perdure.server.errors import InvalidArgument
from perdure.server.frontend.context import FrontendContext
from perdure.server.frontend.deadline import Deadline
from perdure.server.history.api.delete_namespace import NamespaceDeletion


class NamespaceDeletionRpcs(FrontendContext):
    namespace_deletion: NamespaceDeletion

    async def DeleteNamespace(
        self, request: op_rr.DeleteNamespaceRequest, deadline: Deadline
    ) -> op_rr.DeleteNamespaceResponse:
        if request.namespace_id:
            ns = await self.namespaces.get_by_id(request.namespace_id)
        elif request.namespace:
            ns = await self.namespaces.get(request.namespace)
        else:
            raise InvalidArgument("Only one of namespace name or namespace ID must be set.")
        if not ns.active:
            raise InvalidArgument(f"Namespace {ns.name} is already deleted.")
        deleted = await self.namespace_deletion.delete(ns)
        return op_rr.DeleteNamespaceResponse(deleted_namespace=deleted)
