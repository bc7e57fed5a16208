// Namespaces, schedules and task queues.
import { api } from "./api.js";
import { h, link, mount, formatTime } from "./dom.js";

export async function renderNamespaces(main) {
  const out = await api.namespaces();
  mount(main, h("h1", {}, "Namespaces"), h("table", { class: "grid", id: "namespace-table" },
    h("thead", {}, h("tr", {}, ["Name", "State", "Retention", "Description"].map((c) => h("th", {}, c)))),
    h("tbody", {}, (out.namespaces || []).map((n) => h("tr", {},
      h("td", {}, link(`/namespaces/${encodeURIComponent(n.namespaceInfo.name)}/workflows`, n.namespaceInfo.name)),
      h("td", {}, (n.namespaceInfo.state || "").replace(/^NAMESPACE_STATE_/, "")),
      h("td", {}, (n.config && n.config.workflowExecutionRetentionTtl) || ""),
      h("td", {}, n.namespaceInfo.description || ""))))));
}

export async function renderSchedules(main, ns) {
  mount(main, h("h1", {}, "Schedules"), h("p", { class: "muted" }, "Loading…"));
  try {
    const out = await api.schedules(ns);
    const list = out.schedules || [];
    mount(main, h("h1", {}, "Schedules"), list.length ? h("table", { class: "grid", id: "schedule-table" },
      h("thead", {}, h("tr", {}, ["Schedule ID", "Workflow type", "Paused", "Recent run", "Next run"].map((c) => h("th", {}, c)))),
      h("tbody", {}, list.map((s) => {
        const info = s.info || {};
        const recent = (info.recentActions || []).slice(-1)[0];
        return h("tr", {},
          h("td", { class: "mono" }, s.scheduleId),
          h("td", {}, (info.workflowType && info.workflowType.name) || ""),
          h("td", {}, info.paused ? "yes" : "no"),
          h("td", {}, recent ? formatTime(recent.actualTime) : ""),
          h("td", {}, formatTime((info.futureActionTimes || [])[0])));
      }))) : h("p", { class: "muted" }, "No schedules."));
  } catch (err) {
    mount(main, h("h1", {}, "Schedules"), h("div", { class: "error" }, `Schedules are not available: ${err.message}`));
  }
}

export async function renderTaskQueue(main, ns, name) {
  mount(main, h("h1", {}, `Task queue ${name}`), h("p", { class: "muted" }, "Loading…"));
  const sections = [];
  for (const [type, label] of [["TASK_QUEUE_TYPE_WORKFLOW", "Workflow pollers"], ["TASK_QUEUE_TYPE_ACTIVITY", "Activity pollers"]]) {
    try {
      const out = await api.taskQueue(ns, name, type);
      const pollers = out.pollers || [];
      sections.push(h("h3", {}, label), pollers.length ? h("table", { class: "grid" },
        h("thead", {}, h("tr", {}, ["Identity", "Last access", "Rate per second"].map((c) => h("th", {}, c)))),
        h("tbody", {}, pollers.map((p) => h("tr", {},
          h("td", {}, p.identity || ""), h("td", {}, formatTime(p.lastAccessTime)), h("td", {}, p.ratePerSecond ?? "")))))
        : h("p", { class: "muted" }, "No pollers in the last minutes."));
      if (out.stats) sections.push(h("p", {}, `Backlog: ${out.stats.approximateBacklogCount || 0}`));
    } catch (err) {
      sections.push(h("div", { class: "error" }, `${label}: ${err.message}`));
    }
  }
  mount(main, h("h1", {}, "Task queue ", h("span", { class: "mono" }, name)), sections);
}
