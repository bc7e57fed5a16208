"""OpenTelemetry tracing for Perdure clients and workers, interoperable with temporalio's.

``TracingInterceptor`` is ``temporalio.contrib.opentelemetry.TracingInterceptor`` made a
Perdure client and worker interceptor: the same span names (``StartWorkflow:X``,
``RunWorkflow:X``, ``StartActivity:Y``, ``RunActivity:Y``, ``SignalWorkflow:S``,
``HandleUpdate:U``, ``StartChildWorkflow:C``, ...), attributes, and context carried in the
``_tracer-data`` header, so a trace started by a temporalio client and continued on a
Perdure worker (or the reverse) is one trace. Workflow spans are made only when not
replaying, with ids from the workflow's deterministic random.

Perdure's worker serves temporalio.workflow's and temporalio.activity's APIs to the code
it runs (worker/_workflow/_loop.py, activity/_context.py), and runs extern functions
outside the determinism guard; that is what lets the official interceptor run here
unchanged, and what this class builds on rather than re-implementing it.

``workflow.completed_span(name)`` records a span from workflow code (not on replay).

Needs the ``opentelemetry`` extra: ``pip install 'perdure[opentelemetry]'``.
"""

from __future__ import annotations

import temporalio.contrib.opentelemetry as _official
from temporalio.contrib.opentelemetry import TracingWorkflowInboundInterceptor, workflow
from temporalio.contrib.opentelemetry._interceptor import default_text_map_propagator

import perdure.client
import perdure.worker

__all__ = [
    "TracingInterceptor",
    "TracingWorkflowInboundInterceptor",
    "default_text_map_propagator",
    "workflow",
]


# The official class types its hooks with temporalio's interceptor classes, which
# Perdure's mirror in shape, not in type: hence the ignore.
class TracingInterceptor(  # type: ignore[misc]
    _official.TracingInterceptor,
    perdure.client.Interceptor,
    perdure.worker.Interceptor,
):
    """Traces client calls, workflows and activities (see the module docstring).

    ``TracingInterceptor(tracer=None, *, always_create_workflow_spans=False)``: pass it to
    ``Client.connect(interceptors=[...])`` and the client's workers use it too.
    """
