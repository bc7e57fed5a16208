// DOM helpers. Every user-supplied string becomes a text node: nothing is parsed as HTML.

/** h("a", {href: "/x", class: "y", onclick: fn}, "text", child, [more]) */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key === "dataset") {
      Object.assign(el.dataset, value);
    } else if (value === true) {
      el.setAttribute(key, "");
    } else {
      el.setAttribute(key, String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else if (child instanceof Node) el.appendChild(child);
    else el.appendChild(document.createTextNode(String(child)));
  }
}

/** Replace the children of `el`. */
export function mount(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** A link handled by the page's router (no reload). */
export function link(href, ...children) {
  return h("a", { href, "data-link": true }, ...children);
}

export function pretty(value) {
  return JSON.stringify(value, null, 2);
}

// One formatter for every time shown: Date.toLocaleString builds a new one per call,
// which costs seconds over a 10,000-event history.
const TIME_FORMAT = new Intl.DateTimeFormat(undefined, {
  year: "numeric", month: "2-digit", day: "2-digit",
  hour: "2-digit", minute: "2-digit", second: "2-digit", fractionalSecondDigits: 3, hour12: false,
});

export function formatTime(text) {
  if (!text || text.startsWith("0001-")) return "";
  const d = new Date(text);
  if (Number.isNaN(d.getTime())) return text;
  return TIME_FORMAT.format(d);
}

/** A duration in seconds as "1h 2m 3.4s". */
export function formatSeconds(seconds) {
  if (!Number.isFinite(seconds)) return "";
  const parts = [];
  let rest = seconds;
  const hours = Math.floor(rest / 3600);
  if (hours) { parts.push(`${hours}h`); rest -= hours * 3600; }
  const minutes = Math.floor(rest / 60);
  if (minutes) { parts.push(`${minutes}m`); rest -= minutes * 60; }
  if (rest || !parts.length) parts.push(`${Math.round(rest * 1000) / 1000}s`);
  return parts.join(" ");
}

export const STATUS = {
  WORKFLOW_EXECUTION_STATUS_RUNNING: "Running",
  WORKFLOW_EXECUTION_STATUS_COMPLETED: "Completed",
  WORKFLOW_EXECUTION_STATUS_FAILED: "Failed",
  WORKFLOW_EXECUTION_STATUS_CANCELED: "Canceled",
  WORKFLOW_EXECUTION_STATUS_TERMINATED: "Terminated",
  WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW: "ContinuedAsNew",
  WORKFLOW_EXECUTION_STATUS_TIMED_OUT: "TimedOut",
};

export function statusBadge(status) {
  const name = STATUS[status] || (status || "Unknown").replace(/^.*_STATUS_/, "");
  return h("span", { class: `badge status-${name.toLowerCase()}`, "data-status": name }, name);
}

/** Event type without its prefix, e.g. "WorkflowExecutionStarted". */
export function eventName(type) {
  return (type || "").replace(/^EVENT_TYPE_/, "").toLowerCase()
    .replace(/(^|_)([a-z])/g, (_, __, c) => c.toUpperCase());
}

/** A payload as the API gives it: shorthand JSON, or raw {metadata, data} in base64. */
export function decodePayload(value) {
  if (value && typeof value === "object" && value.metadata && typeof value.metadata === "object") {
    const meta = {};
    for (const [k, v] of Object.entries(value.metadata)) meta[k] = b64text(v);
    if (meta.encoding === "binary/null") return null;
    const data = value.data ? b64text(value.data) : "";
    if (meta.encoding === "json/plain") {
      try { return JSON.parse(data); } catch { /* shown raw below */ }
    }
    return { encoding: meta.encoding || "", raw: value.data || "", note: "encoded payload (shown raw)" };
  }
  return value;
}

export function decodePayloads(value) {
  if (value === undefined) return undefined;
  const list = Array.isArray(value) ? value : (value && value.payloads) || [];
  return list.map(decodePayload);
}

function b64text(text) {
  try {
    const bytes = Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
    return new TextDecoder("utf-8", { fatal: false }).decode(bytes);
  } catch {
    return text;
  }
}

/** Ask for confirmation in the page's dialog; resolves true when confirmed. */
export function confirmAction(title, ...body) {
  const dialog = document.getElementById("confirm-dialog");
  mount(document.getElementById("confirm-title"), title);
  mount(document.getElementById("confirm-body"), ...body);
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    dialog.returnValue = "";
    dialog.showModal();
  });
}
