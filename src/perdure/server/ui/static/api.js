// Temporal's HTTP API, on this page's own origin under /api/v1.

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.code = body && body.code;
    this.details = (body && body.details) || [];
  }
}

function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params || {})) {
    if (value !== undefined && value !== null && value !== "") search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

export async function call(method, path, { params, body } = {}) {
  const response = await fetch(`/api/v1${path}${query(params)}`, {
    method,
    headers: body === undefined ? {} : { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let parsed = null;
  try { parsed = await response.json(); } catch { parsed = null; }
  if (!response.ok) throw new ApiError(response.status, parsed);
  return parsed || {};
}

const seg = encodeURIComponent;

export const api = {
  namespaces: () => call("GET", "/namespaces"),
  namespace: (ns) => call("GET", `/namespaces/${seg(ns)}`),
  listWorkflows: (ns, q, pageSize, nextPageToken) =>
    call("GET", `/namespaces/${seg(ns)}/workflows`, { params: { query: q, pageSize, nextPageToken } }),
  countWorkflows: (ns, q) => call("GET", `/namespaces/${seg(ns)}/workflow-count`, { params: { query: q } }),
  describe: (ns, id, runId) =>
    call("GET", `/namespaces/${seg(ns)}/workflows/${seg(id)}`, { params: { "execution.runId": runId } }),
  historyPage: (ns, id, runId, nextPageToken) =>
    call("GET", `/namespaces/${seg(ns)}/workflows/${seg(id)}/history`, {
      params: { "execution.runId": runId, nextPageToken, maximumPageSize: 1000 },
    }),
  signal: (ns, id, runId, name, input) =>
    call("POST", `/namespaces/${seg(ns)}/workflows/${seg(id)}/signal/${seg(name)}`, {
      body: { workflowExecution: { runId }, input, requestId: crypto.randomUUID() },
    }),
  query: (ns, id, runId, name, args) =>
    call("POST", `/namespaces/${seg(ns)}/workflows/${seg(id)}/query/${seg(name)}`, {
      body: { execution: { runId }, query: { queryArgs: args } },
    }),
  update: (ns, id, runId, name, args) =>
    call("POST", `/namespaces/${seg(ns)}/workflows/${seg(id)}/update/${seg(name)}`, {
      body: {
        workflowExecution: { runId },
        request: { meta: { updateId: crypto.randomUUID() }, input: { args } },
        waitPolicy: { lifecycleStage: "UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_COMPLETED" },
      },
    }),
  cancel: (ns, id, runId, reason) =>
    call("POST", `/namespaces/${seg(ns)}/workflows/${seg(id)}/cancel`, {
      body: { workflowExecution: { runId }, reason, requestId: crypto.randomUUID() },
    }),
  terminate: (ns, id, runId, reason) =>
    call("POST", `/namespaces/${seg(ns)}/workflows/${seg(id)}/terminate`, {
      body: { workflowExecution: { runId }, reason },
    }),
  reset: (ns, id, runId, eventId, reason) =>
    call("POST", `/namespaces/${seg(ns)}/workflows/${seg(id)}/reset`, {
      body: {
        workflowExecution: { runId }, workflowTaskFinishEventId: String(eventId), reason,
        requestId: crypto.randomUUID(),
      },
    }),
  schedules: (ns) => call("GET", `/namespaces/${seg(ns)}/schedules`),
  taskQueue: (ns, name, type) =>
    call("GET", `/namespaces/${seg(ns)}/task-queues/${seg(name)}`, { params: { taskQueueType: type } }),
};
