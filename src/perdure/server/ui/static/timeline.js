// A compact timeline: activities, timers, child workflows and signals over the run's time.
import { h, formatSeconds } from "./dom.js";

const T = (e) => new Date(e.eventTime).getTime();
const attrs = (e) => e[Object.keys(e).find((k) => k.endsWith("EventAttributes"))] || {};

const STARTS = {
  EVENT_TYPE_ACTIVITY_TASK_SCHEDULED: "activity",
  EVENT_TYPE_TIMER_STARTED: "timer",
  EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED: "child",
};
const ENDS = {
  EVENT_TYPE_ACTIVITY_TASK_COMPLETED: ["scheduledEventId", "completed"],
  EVENT_TYPE_ACTIVITY_TASK_FAILED: ["scheduledEventId", "failed"],
  EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT: ["scheduledEventId", "failed"],
  EVENT_TYPE_ACTIVITY_TASK_CANCELED: ["scheduledEventId", "canceled"],
  EVENT_TYPE_TIMER_FIRED: ["startedEventId", "completed"],
  EVENT_TYPE_TIMER_CANCELED: ["startedEventId", "canceled"],
  EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_COMPLETED: ["initiatedEventId", "completed"],
  EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_FAILED: ["initiatedEventId", "failed"],
  EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_TIMED_OUT: ["initiatedEventId", "failed"],
  EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_CANCELED: ["initiatedEventId", "canceled"],
  EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_TERMINATED: ["initiatedEventId", "failed"],
  EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_FAILED: ["initiatedEventId", "failed"],
};

/** Rows of {label, kind, start, end, outcome, note} from a history. */
export function timelineRows(events) {
  const rows = new Map();
  const out = [];
  for (const e of events) {
    const a = attrs(e);
    const kind = STARTS[e.eventType];
    if (kind) {
      const label = kind === "activity" ? `${(a.activityType || {}).name || "activity"} #${a.activityId}`
        : kind === "timer" ? `Timer ${a.timerId} (${a.startToFireTimeout || ""})`
          : `Child ${(a.workflowType || {}).name || ""} ${a.workflowId || ""}`;
      const row = {
        label, kind, start: T(e), end: null, outcome: "pending", note: "", activityId: a.activityId,
      };
      rows.set(e.eventId, row);
      out.push(row);
    } else if (e.eventType === "EVENT_TYPE_ACTIVITY_TASK_STARTED") {
      const row = rows.get(a.scheduledEventId);
      if (row && a.attempt > 1) row.note = `attempt ${a.attempt}`;
      if (row && a.lastFailure) row.note += ` · last failure: ${a.lastFailure.message}`;
    } else if (ENDS[e.eventType]) {
      const [key, outcome] = ENDS[e.eventType];
      const row = rows.get(a[key]);
      if (row) {
        row.end = T(e);
        row.outcome = outcome;
        if (a.failure) row.note = `${row.note ? `${row.note} · ` : ""}${a.failure.message || ""}`;
      }
    } else if (e.eventType === "EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED") {
      out.push({ label: `Signal ${a.signalName}`, kind: "signal", start: T(e), end: T(e), outcome: "point", note: "" });
    }
  }
  return out;
}

/** Retries still under way are not in history yet: the pending activities tell them. */
function notePending(rows, pending) {
  const byId = new Map((pending || []).map((p) => [p.activityId, p]));
  for (const row of rows) {
    const p = row.outcome === "pending" && byId.get(row.activityId);
    if (!p) continue;
    const bits = [];
    if (p.attempt > 1) bits.push(`attempt ${p.attempt}`);
    if (p.lastFailure) bits.push(`last failure: ${p.lastFailure.message || ""}`);
    if (bits.length) {
      row.note = bits.join(" · ");
      row.outcome = p.lastFailure ? "retrying" : row.outcome;
    }
  }
}

export function renderTimeline(events, running, { compact = false, pending = [] } = {}) {
  if (!events.length) return h("div", {});
  const rows = timelineRows(events);
  notePending(rows, pending);
  const begin = T(events[0]);
  const finish = Math.max(running ? Date.now() : T(events[events.length - 1]), begin + 1);
  const span = finish - begin;
  const shown = compact ? rows.slice(0, 30) : rows;
  const box = h("div", { class: compact ? "timeline compact" : "timeline", id: "timeline" },
    h("div", { class: "timeline-head muted" }, `${formatSeconds(span / 1000)} · ${rows.length} item(s)`));
  for (const row of shown) {
    const end = row.end ?? finish;
    const bar = h("div", { class: `bar ${row.kind} ${row.outcome}`, title: `${row.label} ${row.note}` });
    bar.style.left = `${((row.start - begin) / span) * 100}%`;
    bar.style.width = row.outcome === "point" ? "" : `${Math.max(((end - row.start) / span) * 100, 0.5)}%`;
    box.appendChild(h("div", { class: "timeline-row", "data-kind": row.kind, "data-outcome": row.outcome },
      h("div", { class: "timeline-label" }, row.label, row.note ? h("span", { class: "muted" }, ` ${row.note}`) : null),
      h("div", { class: "timeline-track" }, bar)));
  }
  if (compact && rows.length > shown.length) {
    box.appendChild(h("div", { class: "muted" }, `… ${rows.length - shown.length} more in the Timeline tab`));
  }
  if (!rows.length) box.appendChild(h("div", { class: "muted" }, "No activities, timers, children or signals."));
  return box;
}
