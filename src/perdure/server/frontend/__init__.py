"""Perdure server frontend: Temporal's WorkflowService and OperatorService handlers.

Each handler, `Rpc(request, deadline)`, resolves the namespace, validates the request and
its limits, calls the history operation (server/history/api/) or matching, and shapes the
response. rpc.py serves the handlers over gRPC; embedded mode calls them directly.
"""
