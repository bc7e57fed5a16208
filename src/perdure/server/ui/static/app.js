// The page's router: Temporal UI's paths, rendered without reloading.
import { api } from "./api.js";
import { h, link, mount } from "./dom.js";
import { renderList } from "./list.js";
import { renderDetail } from "./detail.js";
import { renderNamespaces, renderSchedules, renderTaskQueue } from "./pages.js";

const main = document.getElementById("main");
const nav = document.getElementById("nav");
const namespaceSelect = document.getElementById("namespace-select");
let cleanup = null;
let knownNamespaces = null;

function theme(next) {
  const stored = next || localStorage.getItem("perdure-theme");
  const dark = stored ? stored === "dark" : matchMedia("(prefers-color-scheme: dark)").matches;
  document.documentElement.dataset.theme = dark ? "dark" : "light";
}

document.getElementById("theme-toggle").addEventListener("click", () => {
  const next = document.documentElement.dataset.theme === "dark" ? "light" : "dark";
  localStorage.setItem("perdure-theme", next);
  theme(next);
});

async function namespaces(current) {
  if (!knownNamespaces) {
    try {
      knownNamespaces = ((await api.namespaces()).namespaces || []).map((n) => n.namespaceInfo.name);
    } catch {
      knownNamespaces = [];
    }
  }
  const names = knownNamespaces.includes(current) ? knownNamespaces : [current, ...knownNamespaces];
  mount(namespaceSelect, names.map((n) => h("option", { value: n, selected: n === current }, n)));
}

namespaceSelect.addEventListener("change", () => go(`/namespaces/${encodeURIComponent(namespaceSelect.value)}/workflows`));

function go(path) {
  history.pushState(null, "", path);
  route();
}

async function route() {
  if (cleanup) { cleanup(); cleanup = null; }
  const parts = location.pathname.replace(/^\/+|\/+$/g, "").split("/").map(decodeURIComponent);
  const ns = parts[0] === "namespaces" && parts[1] ? parts[1] : "default";
  const base = `/namespaces/${encodeURIComponent(ns)}`;
  mount(nav, link(`${base}/workflows`, "Workflows"), link(`${base}/schedules`, "Schedules"), link("/namespaces", "Namespaces"));
  namespaces(ns);
  try {
    if (parts.length <= 1) {
      await renderNamespaces(main);
    } else if (parts[2] === "workflows" && parts.length >= 4) {
      cleanup = await renderDetail(main, ns, parts[3], parts[4] || "", parts[5] || "history");
    } else if (parts[2] === "schedules") {
      await renderSchedules(main, ns);
    } else if (parts[2] === "task-queues" && parts[3]) {
      await renderTaskQueue(main, ns, parts[3]);
    } else {
      cleanup = await renderList(main, ns, new URLSearchParams(location.search));
    }
  } catch (err) {
    mount(main, h("div", { class: "error", role: "alert" }, `Something went wrong: ${err.message}`));
  }
}

document.addEventListener("click", (event) => {
  const a = event.target.closest("a[data-link]");
  if (!a || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
  event.preventDefault();
  go(a.getAttribute("href"));
});
window.addEventListener("popstate", route);

theme();
route();
