// Workflow detail: summary, input and result, history table and timeline, pending work,
// call stack, and the actions (signal, query, update, cancel, terminate, reset).
import { api } from "./api.js";
import {
  h, link, mount, pretty, formatTime, formatSeconds, statusBadge, eventName,
  decodePayload, decodePayloads, confirmAction,
} from "./dom.js";
import { renderTimeline } from "./timeline.js";

const TABS = [
  ["history", "History"],
  ["timeline", "Timeline"],
  ["pending-activities", "Pending activities"],
  ["stack-trace", "Call stack"],
];

function attributesOf(event) {
  const key = Object.keys(event).find((k) => k.endsWith("EventAttributes"));
  return key ? event[key] : {};
}

export function workflowPath(ns, id, runId, tab = "history") {
  return `/namespaces/${encodeURIComponent(ns)}/workflows/${encodeURIComponent(id)}/${encodeURIComponent(runId || "")}/${tab}`;
}

export async function renderDetail(main, ns, workflowId, runId, tab) {
  const state = {
    timer: null, describe: null, events: [], complete: false, loads: 0, tab: tab || "history",
  };
  const header = h("div", { class: "title-row" });
  const error = h("div", { class: "error", role: "alert", id: "detail-error" });
  const notice = h("div", { class: "notice", id: "action-result" });
  const summary = h("section", { class: "summary", id: "summary" });
  const io = h("section", { class: "io", id: "input-result" });
  const tabBar = h("nav", { class: "tabs" });
  const body = h("section", { id: "tab-body" });
  const follow = h("input", { type: "checkbox", id: "follow" });
  mount(main, header, error, notice, summary, io, tabBar, body);

  // The first page of history is shown at once; the rest streams in behind it.
  async function load() {
    const mine = ++state.loads;
    try {
      const [describe, first] = await Promise.all([
        api.describe(ns, workflowId, runId),
        api.historyPage(ns, workflowId, runId),
      ]);
      if (mine !== state.loads) return;
      state.describe = describe;
      state.events = eventsOf(first);
      if (!runId) runId = describe.workflowExecutionInfo.execution.runId;
      state.complete = !first.nextPageToken;
      mount(error);
      draw();
      let token = first.nextPageToken;
      while (token) {
        const page = await api.historyPage(ns, workflowId, runId, token);
        if (mine !== state.loads) return;
        state.events.push(...eventsOf(page));
        token = page.nextPageToken;
      }
      if (!state.complete) {
        state.complete = true;
        drawIO(io, state.events, true);
        drawTab();
      }
    } catch (err) {
      mount(error, `Could not load workflow ${workflowId}: ${err.message}`);
    }
  }

  function running() {
    return state.describe &&
      state.describe.workflowExecutionInfo.status === "WORKFLOW_EXECUTION_STATUS_RUNNING";
  }

  function draw() {
    const info = state.describe.workflowExecutionInfo;
    mount(header,
      h("h1", { class: "mono", id: "workflow-title" }, info.execution.workflowId),
      statusBadge(info.status),
      h("span", { class: "spacer" }),
      h("label", { title: "Reload while the workflow runs" }, follow, " Follow"),
      h("button", { id: "refresh", onclick: load }, "↻"),
      actions());
    drawSummary(summary, ns, state.describe, state.events);
    drawIO(io, state.events, state.complete);
    mount(tabBar, TABS.map(([key, label]) => link(workflowPath(ns, workflowId, runId, key),
      h("span", { class: state.tab === key ? "tab active" : "tab", "data-tab": key }, label))));
    drawTab();
  }

  function drawTab() {
    if (state.tab === "timeline") {
      mount(body, renderTimeline(state.events, running(), { pending: state.describe.pendingActivities }));
    } else if (state.tab === "pending-activities") {
      mount(body, pendingActivities(state.describe), pendingChildren(ns, state.describe));
    } else if (state.tab === "stack-trace") {
      mount(body, h("p", { class: "muted" }, "Asking a worker for the call stack…"));
      api.query(ns, workflowId, runId, "__stack_trace", [])
        .then((out) => mount(body, h("pre", { id: "stack-trace" }, String(decodePayloads(out.queryResult || [])[0] ?? ""))))
        .catch((err) => mount(body, h("div", { class: "error" }, `No call stack: ${err.message}`)));
    } else {
      mount(body, renderTimeline(state.events, running(), {
        compact: true, pending: state.describe.pendingActivities,
      }),
        historyTable(state.events, state.complete));
    }
  }

  function actions() {
    const open = running();
    const button = (id, label, fn, cls) => h("button", { id, class: cls, onclick: fn, disabled: !open && id !== "action-query" && id !== "action-reset" }, label);
    return h("span", { class: "actions" },
      button("action-signal", "Signal", () => nameAndArgs("Signal", "signal", (n, a) => api.signal(ns, workflowId, runId, n, a))),
      button("action-query", "Query", () => nameAndArgs("Query", "query", (n, a) => api.query(ns, workflowId, runId, n, a))),
      button("action-update", "Update", () => nameAndArgs("Update", "update", (n, a) => api.update(ns, workflowId, runId, n, a))),
      button("action-cancel", "Request cancellation", () => withReason("Request cancellation", (r) => api.cancel(ns, workflowId, runId, r))),
      button("action-terminate", "Terminate", () => withReason("Terminate", (r) => api.terminate(ns, workflowId, runId, r)), "danger"),
      button("action-reset", "Reset", resetForm));
  }

  async function run(what, fn) {
    mount(notice);
    try {
      const out = await fn();
      mount(notice, h("strong", {}, `${what}: done`), resultOf(out));
    } catch (err) {
      mount(notice, h("span", { class: "error" }, `${what} failed: ${err.message}`));
    }
    await load();
  }

  async function nameAndArgs(title, kind, fn) {
    const name = h("input", { id: `${kind}-name`, placeholder: `${kind} name`, required: true });
    const args = h("textarea", { id: `${kind}-args`, rows: 4, placeholder: "JSON arguments, e.g. [1, \"two\"] (empty: none)" });
    if (!(await confirmAction(`${title} ${workflowId}`, h("label", {}, "Name ", name), h("label", {}, "Arguments ", args)))) return;
    let parsed = [];
    try {
      const text = args.value.trim();
      if (text) parsed = JSON.parse(text);
      if (!Array.isArray(parsed)) parsed = [parsed];
    } catch (err) {
      mount(notice, h("span", { class: "error" }, `Arguments are not JSON: ${err.message}`));
      return;
    }
    await run(`${title} ${name.value}`, () => fn(name.value.trim(), parsed));
  }

  async function withReason(title, fn) {
    const reason = h("input", { id: "action-reason", placeholder: "reason" });
    if (!(await confirmAction(`${title} ${workflowId}?`, h("label", {}, "Reason ", reason)))) return;
    await run(title, () => fn(reason.value));
  }

  async function resetForm() {
    const points = state.events.filter((e) => e.eventType === "EVENT_TYPE_WORKFLOW_TASK_COMPLETED");
    if (!points.length) {
      mount(notice, h("span", { class: "error" }, "No completed workflow task to reset to."));
      return;
    }
    const select = h("select", { id: "reset-event" }, points.map((e) =>
      h("option", { value: e.eventId }, `Event ${e.eventId} — ${formatTime(e.eventTime)}`)));
    const reason = h("input", { id: "action-reason", placeholder: "reason" });
    if (!(await confirmAction(`Reset ${workflowId}`, h("label", {}, "Workflow task ", select), h("label", {}, "Reason ", reason)))) return;
    await run("Reset", async () => {
      const out = await api.reset(ns, workflowId, runId, select.value, reason.value);
      if (out.runId) history.pushState(null, "", workflowPath(ns, workflowId, out.runId));
      return out;
    });
  }

  follow.addEventListener("change", () => {
    clearInterval(state.timer);
    if (follow.checked) state.timer = setInterval(() => { if (running()) load(); }, 2000);
  });
  await load();
  return () => clearInterval(state.timer);
}

function resultOf(out) {
  if (out.queryResult !== undefined) return h("pre", { id: "query-result" }, pretty(decodePayloads(out.queryResult)));
  if (out.outcome) {
    if (out.outcome.success !== undefined) return h("pre", { id: "update-result" }, pretty(decodePayloads(out.outcome.success)));
    if (out.outcome.failure) return h("pre", { class: "error" }, out.outcome.failure.message || "failed");
  }
  return null;
}

/** A workflow's result is one value: show it, not a list of one. */
function single(values) {
  if (values === undefined) return null;
  return values.length === 1 ? values[0] : values;
}

function field(label, ...value) {
  if (value.every((v) => v === "" || v === null || v === undefined)) return null;
  return [h("dt", {}, label), h("dd", {}, ...value)];
}

function drawSummary(el, ns, describe, events) {
  const info = describe.workflowExecutionInfo;
  const id = info.execution.workflowId;
  const parent = info.parentExecution;
  const children = events.filter((e) => e.eventType === "EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED")
    .map((e) => attributesOf(e).workflowExecution);
  const closeTime = info.closeTime && !info.closeTime.startsWith("0001-") ? info.closeTime : "";
  const took = closeTime ? (new Date(closeTime) - new Date(info.startTime)) / 1000 : NaN;
  const memo = (info.memo && info.memo.fields) || {};
  const attrs = (info.searchAttributes && info.searchAttributes.indexedFields) || {};
  mount(el, h("dl", { class: "grid-dl" },
    field("Workflow ID", h("span", { class: "mono", id: "summary-workflow-id" }, id)),
    field("Run ID", h("span", { class: "mono" }, info.execution.runId)),
    field("Type", h("span", { id: "summary-type" }, (info.type && info.type.name) || "")),
    field("Status", statusBadge(info.status)),
    field("Task queue", link(`/namespaces/${encodeURIComponent(ns)}/task-queues/${encodeURIComponent(info.taskQueue || "")}`, info.taskQueue || "")),
    field("Start", formatTime(info.startTime)),
    field("Close", formatTime(closeTime)),
    field("Duration", closeTime ? formatSeconds(took) : ""),
    field("History events", info.historyLength || String(events.length)),
    parent ? field("Parent", link(`/namespaces/${encodeURIComponent(ns)}/workflows/${encodeURIComponent(parent.workflowId)}/${encodeURIComponent(parent.runId)}/history`, parent.workflowId)) : null,
    children.length ? field("Children", children.map((c) => h("div", {}, link(`/namespaces/${encodeURIComponent(ns)}/workflows/${encodeURIComponent(c.workflowId)}/${encodeURIComponent(c.runId)}/history`, c.workflowId)))) : null,
    Object.keys(memo).length ? field("Memo", h("pre", {}, pretty(Object.fromEntries(Object.entries(memo).map(([k, v]) => [k, decodePayload(v)]))))) : null,
    Object.keys(attrs).length ? field("Search attributes", h("pre", {}, pretty(Object.fromEntries(Object.entries(attrs).map(([k, v]) => [k, decodePayload(v)]))))) : null,
  ));
}

function eventsOf(page) {
  return (page.history && page.history.events) || [];
}

function drawIO(el, events, complete) {
  const started = events.find((e) => e.eventType === "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED");
  const last = complete ? events[events.length - 1] : null;
  const input = started ? decodePayloads(attributesOf(started).input) : undefined;
  let outcome = h("span", { class: "muted" }, complete ? "Running" : "Loading history…");
  if (last) {
    const a = attributesOf(last);
    switch (last.eventType) {
      case "EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED":
        outcome = h("pre", { id: "workflow-result" }, pretty(single(decodePayloads(a.result)))); break;
      case "EVENT_TYPE_WORKFLOW_EXECUTION_FAILED":
        outcome = failureView(a.failure); break;
      case "EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED":
        outcome = h("pre", { id: "workflow-result" }, `Terminated${a.reason ? `: ${a.reason}` : ""}`); break;
      case "EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED":
        outcome = h("pre", { id: "workflow-result" }, "Canceled"); break;
      case "EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT":
        outcome = h("pre", { id: "workflow-result" }, "Timed out"); break;
      case "EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW":
        outcome = h("pre", { id: "workflow-result" }, `Continued as new: ${a.newExecutionRunId || ""}`); break;
      default: break;
    }
  }
  mount(el,
    h("div", { class: "card" }, h("h3", {}, "Input"), h("pre", { id: "workflow-input" }, pretty(input ?? []))),
    h("div", { class: "card" }, h("h3", {}, "Result"), outcome));
}

export function failureView(failure) {
  if (!failure) return h("span", { class: "muted" }, "");
  const chain = [];
  for (let f = failure; f; f = f.cause) chain.push(f);
  return h("div", { class: "failure" }, chain.map((f, i) => h("div", {},
    h("pre", { class: "error" }, `${i ? "Caused by: " : ""}${f.message || ""}`),
    f.applicationFailureInfo && f.applicationFailureInfo.type ? h("div", { class: "muted" }, `type ${f.applicationFailureInfo.type}`) : null,
    f.stackTrace ? h("details", {}, h("summary", {}, "Stack trace"), h("pre", {}, f.stackTrace)) : null)));
}

function briefAttributes(event) {
  const a = attributesOf(event);
  const bits = [];
  if (a.activityType) bits.push(a.activityType.name);
  if (a.activityId) bits.push(`id ${a.activityId}`);
  if (a.signalName) bits.push(a.signalName);
  if (a.timerId) bits.push(`timer ${a.timerId}`);
  if (a.startToFireTimeout) bits.push(a.startToFireTimeout);
  if (a.workflowType) bits.push(a.workflowType.name);
  if (a.attempt && a.attempt > 1) bits.push(`attempt ${a.attempt}`);
  if (a.failure) bits.push(a.failure.message);
  if (a.reason) bits.push(a.reason);
  if (a.result !== undefined) bits.push(JSON.stringify(decodePayloads(a.result)));
  const text = bits.join(" · ");
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

const CHUNK = 500;

/** The history as a table, CHUNK rows at a time: more are added as the reader scrolls
 * to the end (a 10,000-event history is not laid out at once). */
function historyTable(events, complete) {
  const tbody = h("tbody", {});
  const count = h("span", { id: "history-count", "data-total": events.length, "data-complete": String(complete) },
    `${events.length} events${complete ? "" : " (loading…)"}`);
  const more = h("button", { id: "history-more", type: "button" }, "Show more");
  const sentinel = h("div", { class: "muted history-more" }, more);
  let shown = 0;
  const showMore = () => {
    appendEvents(tbody, events.slice(shown, shown + CHUNK));
    shown = Math.min(shown + CHUNK, events.length);
    sentinel.hidden = shown >= events.length;
    mount(more, `Show more (${shown} of ${events.length} shown)`);
  };
  more.addEventListener("click", showMore);
  showMore();
  new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting) && shown < events.length) showMore();
  }).observe(sentinel);
  return h("div", { class: "table-wrap" }, h("div", { class: "muted" }, count),
    h("table", { class: "grid", id: "history-table" },
      h("thead", {}, h("tr", {}, ["ID", "Time", "Event", "Details"].map((c) => h("th", {}, c)))),
      tbody), sentinel);
}

function appendEvents(tbody, events) {
  const fragment = document.createDocumentFragment();
  for (const event of events) {
    const details = h("tr", { class: "event-details", hidden: true });
    const rowEl = h("tr", {
      class: "event", "data-event-type": eventName(event.eventType),
      onclick: () => {
        if (!details.firstChild) details.appendChild(h("td", { colspan: 4 }, h("pre", {}, pretty(event))));
        details.hidden = !details.hidden;
      },
    },
    h("td", { class: "num" }, event.eventId),
    h("td", {}, formatTime(event.eventTime)),
    h("td", {}, eventName(event.eventType)),
    h("td", { class: "brief" }, briefAttributes(event)));
    fragment.append(rowEl, details);
  }
  tbody.appendChild(fragment);
}

function pendingActivities(describe) {
  const list = describe.pendingActivities || [];
  if (!list.length) return h("p", { class: "muted", id: "pending-activities" }, "No pending activities.");
  return h("div", { id: "pending-activities" }, list.map((a) => h("div", { class: "card pending" },
    h("h3", {}, `${(a.activityType && a.activityType.name) || ""} (id ${a.activityId})`),
    h("dl", { class: "grid-dl" },
      field("State", (a.state || "").replace(/^PENDING_ACTIVITY_STATE_/, "")),
      field("Attempt", `${a.attempt || 1}${a.maximumAttempts ? ` of ${a.maximumAttempts}` : ""}`),
      field("Scheduled", formatTime(a.scheduledTime)),
      field("Last started", formatTime(a.lastStartedTime)),
      field("Next attempt", formatTime(a.nextAttemptScheduleTime)),
      field("Last heartbeat", formatTime(a.lastHeartbeatTime)),
      a.heartbeatDetails ? field("Heartbeat details", h("pre", {}, pretty(decodePayloads(a.heartbeatDetails)))) : null,
      a.lastWorkerIdentity ? field("Last worker", a.lastWorkerIdentity) : null,
      a.lastFailure ? field("Last failure", h("div", { class: "last-failure" }, failureView(a.lastFailure))) : null))));
}

function pendingChildren(ns, describe) {
  const list = describe.pendingChildren || [];
  if (!list.length) return null;
  return h("div", { class: "card" }, h("h3", {}, "Pending children"), h("ul", {}, list.map((c) =>
    h("li", {}, link(`/namespaces/${encodeURIComponent(ns)}/workflows/${encodeURIComponent(c.workflowId)}/${encodeURIComponent(c.runId || "")}/history`, c.workflowId),
      ` ${c.workflowTypeName || ""}`))));
}
