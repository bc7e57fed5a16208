// The workflow list: list-filter search with helpers, counts by status, paging, refresh.
import { api } from "./api.js";
import { h, link, mount, formatTime, statusBadge, decodePayload, STATUS } from "./dom.js";

const PAGE_SIZE = 50;
const RANGES = { "": "Any time", "1h": "Last hour", "24h": "Last 24 hours", "168h": "Last 7 days" };

function quote(text) {
  return `"${String(text).replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}

/** The list filter the helper fields spell. */
export function buildQuery({ status, type, id, range }) {
  const terms = [];
  if (status) terms.push(`ExecutionStatus = ${quote(status)}`);
  if (type) terms.push(`WorkflowType = ${quote(type)}`);
  if (id) terms.push(`WorkflowId STARTS_WITH ${quote(id)}`);
  if (range) {
    const hours = Number.parseInt(range, 10);
    const since = new Date(Date.now() - hours * 3600 * 1000).toISOString();
    terms.push(`StartTime > ${quote(since)}`);
  }
  return terms.join(" AND ");
}

function withStatus(query, status) {
  const term = `ExecutionStatus = ${quote(status)}`;
  return query ? `(${query}) AND ${term}` : term;
}

export async function renderList(main, ns, params) {
  const state = { query: params.get("query") || "", tokens: [""], page: 0, timer: null };
  const asked = Number.parseInt(params.get("pageSize") || "", 10);
  const pageSize = asked > 0 && asked <= 1000 ? asked : PAGE_SIZE;
  const input = h("input", {
    id: "list-query", type: "search", value: state.query, placeholder: 'e.g. WorkflowType = "Order" AND ExecutionStatus = "Running"',
    "aria-label": "list filter",
  });
  const helpers = {
    status: h("select", { id: "filter-status", "aria-label": "status" },
      h("option", { value: "" }, "Any status"),
      Object.values(STATUS).map((s) => h("option", { value: s }, s))),
    type: h("input", { id: "filter-type", placeholder: "Workflow type", "aria-label": "workflow type" }),
    id: h("input", { id: "filter-id", placeholder: "Workflow id starts with", "aria-label": "workflow id" }),
    range: h("select", { id: "filter-range", "aria-label": "start time" },
      Object.entries(RANGES).map(([v, label]) => h("option", { value: v }, label))),
  };
  const counts = h("div", { class: "counts", id: "status-counts" });
  const table = h("div", { class: "table-wrap" });
  const pager = h("div", { class: "pager" });
  const error = h("div", { class: "error", role: "alert" });
  const auto = h("input", { type: "checkbox", id: "auto-refresh" });

  function setQuery(q) {
    state.query = q;
    input.value = q;
    const url = new URL(location.href);
    if (q) url.searchParams.set("query", q); else url.searchParams.delete("query");
    history.replaceState(null, "", url);
    state.tokens = [""];
    state.page = 0;
    load();
  }

  // One count grouped by status (Temporal's GROUP BY ExecutionStatus); a count per
  // status where the filter cannot be grouped.
  async function statusCounts() {
    try {
      const out = await api.countWorkflows(ns, `${state.query} GROUP BY ExecutionStatus`.trim());
      const found = new Map((out.groups || []).map((g) => [decodePayload(g.groupValues[0]), g.count]));
      return [out.count || "0", Object.values(STATUS).map((s) => [s, found.get(s) || "0"])];
    } catch {
      const all = await api.countWorkflows(ns, state.query);
      return [all.count || "0", await Promise.all(Object.values(STATUS).map(async (s) => {
        try { return [s, (await api.countWorkflows(ns, withStatus(state.query, s))).count || "0"]; }
        catch { return [s, "?"]; }
      }))];
    }
  }

  async function loadCounts() {
    const [total, results] = await statusCounts();
    const items = [h("button", { class: "count", onclick: () => setQuery(state.query) }, `All ${total}`)];
    for (const [s, n] of results) {
      if (n === "0") continue;
      items.push(h("button", {
        class: `count status-${s.toLowerCase()}`, "data-count-status": s,
        onclick: () => { helpers.status.value = s; setQuery(withStatus(state.query, s)); },
      }, `${s} ${n}`));
    }
    mount(counts, items);
  }

  async function load() {
    mount(error);
    const token = state.tokens[state.page];
    try {
      const [page] = await Promise.all([
        api.listWorkflows(ns, state.query, pageSize, token || undefined),
        loadCounts().catch(() => mount(counts)),
      ]);
      const rows = page.executions || [];
      state.tokens[state.page + 1] = page.nextPageToken || null;
      mount(table, h("table", { class: "grid", id: "workflow-table" },
        h("thead", {}, h("tr", {}, ["Status", "Workflow ID", "Run ID", "Type", "Start", "End", "Task queue"].map((c) => h("th", {}, c)))),
        h("tbody", {}, rows.length ? rows.map((r) => row(ns, r)) : h("tr", {}, h("td", { colspan: 7, class: "muted" }, "No workflows match.")))));
      mount(pager,
        h("button", { id: "prev-page", disabled: state.page === 0, onclick: () => { state.page -= 1; load(); } }, "← Previous"),
        h("span", { class: "muted" }, ` Page ${state.page + 1} `),
        h("button", { id: "next-page", disabled: !page.nextPageToken, onclick: () => { state.page += 1; load(); } }, "Next →"));
    } catch (err) {
      mount(error, `Could not list workflows: ${err.message}`);
    }
  }

  const form = h("form", {
    class: "search", onsubmit: (e) => { e.preventDefault(); setQuery(input.value.trim()); },
  }, input, h("button", { type: "submit", id: "search-button" }, "Search"));
  const helperRow = h("form", {
    class: "helpers", onsubmit: (e) => {
      e.preventDefault();
      setQuery(buildQuery({
        status: helpers.status.value, type: helpers.type.value.trim(), id: helpers.id.value.trim(), range: helpers.range.value,
      }));
    },
  }, helpers.status, helpers.type, helpers.id, helpers.range,
  h("button", { type: "submit", id: "apply-filters" }, "Apply"),
  h("button", { type: "button", onclick: () => { for (const el of Object.values(helpers)) el.value = ""; setQuery(""); } }, "Clear"));

  auto.addEventListener("change", () => {
    clearInterval(state.timer);
    if (auto.checked) state.timer = setInterval(load, 5000);
  });
  mount(main,
    h("div", { class: "title-row" }, h("h1", {}, "Workflows"),
      h("span", { class: "spacer" }),
      h("label", {}, auto, " Auto refresh"),
      h("button", { id: "refresh", onclick: load }, "↻ Refresh")),
    form, helperRow, counts, error, table, pager);
  await load();
  return () => clearInterval(state.timer);
}

function row(ns, r) {
  const id = r.execution.workflowId;
  const runId = r.execution.runId;
  const href = `/namespaces/${encodeURIComponent(ns)}/workflows/${encodeURIComponent(id)}/${encodeURIComponent(runId)}/history`;
  return h("tr", { "data-workflow-id": id },
    h("td", {}, statusBadge(r.status)),
    h("td", { class: "mono" }, link(href, id)),
    h("td", { class: "mono small" }, runId),
    h("td", {}, (r.type && r.type.name) || ""),
    h("td", {}, formatTime(r.startTime)),
    h("td", {}, formatTime(r.closeTime)),
    h("td", {}, r.taskQueue ? link(`/namespaces/${encodeURIComponent(ns)}/task-queues/${encodeURIComponent(r.taskQueue)}`, r.taskQueue) : ""));
}
