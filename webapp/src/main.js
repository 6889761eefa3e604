// graphmill's web app: sign in, datasets with live status, a dataset's items, its graph, search.
// It speaks only the REST API (/api/v1), signed in by the login cookie.
import cytoscape from "cytoscape";
import "./style.css";

const app = document.getElementById("app");
const nav = document.getElementById("nav");
let streams = []; // open EventSources of the current page

// --- helpers ---------------------------------------------------------------------------

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) el.setAttribute(k, v);
  }
  for (const c of children.flat()) el.append(c instanceof Node ? c : document.createTextNode(String(c ?? "")));
  return el;
}

async function api(path, options = {}) {
  const response = await fetch(`/api/v1${path}`, { credentials: "same-origin", ...options });
  if (response.status === 401) {
    location.hash = "#/login";
    throw new Error("Please sign in.");
  }
  const text = await response.text();
  const body = text ? JSON.parse(text) : null;
  if (!response.ok) throw new Error(reason(body) || `${response.status} ${response.statusText}`);
  return body;
}

function reason(body) {
  if (!body) return "";
  const d = body.detail ?? body.error;
  if (Array.isArray(d)) return d.map((e) => e.msg ?? JSON.stringify(e)).join("; ");
  return typeof d === "string" ? d : JSON.stringify(d);
}

const json = (body) => ({
  method: "POST",
  headers: { "Content-Type": "application/json" },
  body: JSON.stringify(body),
});

function badge(state) {
  return h("span", { class: `badge ${state || ""}`, "data-state": state || "" }, (state || "pending").replaceAll("_", " "));
}

function bar(done, total) {
  const pct = total ? Math.round((100 * done) / total) : 0;
  return h("div", { class: "bar", title: `${done} of ${total}` }, h("div", { style: `width:${pct}%` }));
}

const STATUS_WORDS = {
  DATASET_PROCESSING_COMPLETED: "completed",
  DATASET_PROCESSING_STARTED: "running",
  DATASET_PROCESSING_INITIATED: "queued",
  DATASET_PROCESSING_ERRORED: "failed",
};

function closeStreams() {
  streams.forEach((s) => s.close());
  streams = [];
}

function watch(datasetId, onChange) {
  const source = new EventSource(`/api/v1/datasets/${datasetId}/events`);
  let timer = null;
  source.onmessage = () => {
    clearTimeout(timer);
    timer = setTimeout(onChange, 150); // one refresh per burst of events
  };
  streams.push(source);
}

function page(title, subtitle, ...children) {
  app.replaceChildren(h("h1", {}, title), h("p", { class: "sub" }, subtitle), ...children);
}

function fail(error) {
  app.append(h("div", { class: "card error", role: "alert" }, error.message));
}

// --- pages -----------------------------------------------------------------------------

async function loginPage() {
  nav.replaceChildren();
  const email = h("input", { type: "email", placeholder: "Email", name: "email", autocomplete: "username" });
  const password = h("input", { type: "password", placeholder: "Password", name: "password", autocomplete: "current-password" });
  const message = h("p", { class: "error" });
  const signIn = async () => {
    const form = new URLSearchParams({ username: email.value, password: password.value });
    const r = await fetch("/api/v1/auth/login", { method: "POST", body: form });
    if (!r.ok) {
      message.textContent = "Wrong email or password.";
      return;
    }
    location.hash = "#/";
  };
  const signUp = async () => {
    const r = await fetch("/api/v1/auth/register", json({ email: email.value, password: password.value }));
    if (!r.ok) {
      message.textContent = reason(await r.json()) || "Sign-up is not allowed here.";
      return;
    }
    await signIn();
  };
  app.replaceChildren(
    h("div", { class: "card login" },
      h("h1", {}, "Sign in to graphmill"),
      h("p", { class: "sub" }, "Your documents, as a knowledge graph you can search."),
      h("form", { onsubmit: (e) => { e.preventDefault(); signIn(); } },
        email, password, h("button", { type: "submit" }, "Sign in")),
      h("p", { class: "muted" }, "No account? ", h("a", { href: "#", id: "signup", onclick: (e) => { e.preventDefault(); signUp(); } }, "Create one with these details")),
      message),
  );
}

function navbar(me) {
  nav.replaceChildren(
    h("a", { href: "#/" }, "Datasets"),
    h("a", { href: "#/search" }, "Search"),
    h("span", { class: "right" }, me.email, " · ",
      h("a", { href: "#", onclick: async (e) => { e.preventDefault(); await fetch("/api/v1/auth/logout", { method: "POST" }); location.hash = "#/login"; } }, "Sign out")),
  );
}

async function datasetsPage() {
  page("Datasets", "Everything you can read, with its processing status, live.");
  const body = h("tbody");
  const name = h("input", { placeholder: "new dataset name", id: "new-dataset" });
  app.append(
    h("div", { class: "card" },
      h("form", { class: "row", onsubmit: async (e) => { e.preventDefault(); await api("/datasets", json({ name: name.value })); render(); } },
        name, h("button", { type: "submit" }, "Create dataset"))),
    h("div", { class: "card" }, h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, "Dataset"), h("th", {}, "Status"), h("th", {}, "Progress"), h("th", {}, "Created"))), body)),
  );
  const datasets = await api("/datasets");
  const refresh = async () => {
    const ids = datasets.map((d) => `dataset=${d.id}`).join("&");
    const progress = ids ? await api(`/datasets/status/progress?${ids}`) : {};
    body.replaceChildren(...datasets.map((d) => {
      const p = progress[d.id]?.progress;
      const state = p ? STATUS_WORDS[progress[d.id].status] : "not cognified";
      const done = p ? p.completed + p.failed + p.skipped : 0;
      return h("tr", { "data-dataset": d.name },
        h("td", {}, h("a", { href: `#/datasets/${d.id}` }, d.name)),
        h("td", {}, badge(state)),
        h("td", {}, p ? h("div", { class: "row" }, bar(done, p.total), h("span", { class: "muted" }, `${done}/${p.total}`)) : ""),
        h("td", { class: "muted" }, new Date(d.createdAt).toLocaleString()));
    }));
    if (!datasets.length) body.append(h("tr", {}, h("td", { colspan: 4, class: "muted" }, "No dataset yet: create one, then drop files on it.")));
  };
  await refresh();
  datasets.forEach((d) => watch(d.id, refresh));
}

async function datasetPage(id) {
  const dataset = (await api("/datasets")).find((d) => d.id === id);
  if (!dataset) throw new Error("No such dataset, or you cannot read it.");
  page(dataset.name, "Items, their processing state, and the run in progress.");
  const status = h("div", { class: "row", id: "run-status" });
  const items = h("tbody");
  const cancel = h("button", { class: "danger", id: "cancel", disabled: true }, "Cancel run");
  const cognify = h("button", { id: "cognify", onclick: async () => {
    const out = await api("/cognify", json({ datasetIds: [id], runInBackground: true }));
    runId = out[id].pipeline_run_id;
    refresh();
  } }, "Cognify");
  let runId = null;
  cancel.onclick = async () => { if (runId) await api(`/runs/${runId}/cancel`, { method: "POST" }); refresh(); };
  const file = h("input", { type: "file", multiple: true, id: "file-input", style: "display:none" });
  const drop = h("div", { class: "drop", id: "drop" }, "Drop files here, or ", h("a", { href: "#", onclick: (e) => { e.preventDefault(); file.click(); } }, "choose files"), file);
  const upload = async (files) => {
    const form = new FormData();
    form.append("datasetId", id);
    for (const f of files) form.append("data", f, f.name);
    drop.textContent = `Uploading ${files.length} file(s)…`;
    try {
      await api("/add", { method: "POST", body: form });
    } catch (error) {
      fail(error);
    }
    drop.replaceChildren("Drop files here, or ", h("a", { href: "#", onclick: (e) => { e.preventDefault(); file.click(); } }, "choose files"), file);
    refresh();
  };
  file.onchange = () => upload([...file.files]);
  drop.ondragover = (e) => { e.preventDefault(); drop.classList.add("over"); };
  drop.ondragleave = () => drop.classList.remove("over");
  drop.ondrop = (e) => { e.preventDefault(); drop.classList.remove("over"); upload([...e.dataTransfer.files]); };
  app.append(
    h("div", { class: "card" }, h("div", { class: "row" }, status, h("span", { class: "grow" }), cognify, cancel,
      h("a", { class: "button", href: `#/datasets/${id}/graph`, id: "open-graph" }, "Open graph"))),
    h("div", { class: "card" }, drop),
    h("div", { class: "card" }, h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, "File"), h("th", {}, "Size"), h("th", {}, "Add"), h("th", {}, "Cognify"), h("th", {}, ""))), items)),
  );
  const refresh = async () => {
    const [data, runs] = await Promise.all([api(`/datasets/${id}/data`), api(`/datasets/${id}/runs`)]);
    const run = runs.find((r) => r.pipeline_name === "cognify_pipeline");
    if (run) runId = run.run_id;
    const active = run && (run.state === "queued" || run.state === "running");
    cancel.disabled = !active;
    cognify.disabled = active;
    const c = run?.counts ?? {};
    const done = (c.completed ?? 0) + (c.failed ?? 0) + (c.skipped ?? 0);
    status.replaceChildren(
      h("strong", {}, "Cognify"), run ? badge(run.state) : badge("not cognified"),
      run ? bar(done, c.total) : "", run ? h("span", { class: "muted", id: "run-counts" }, `${done}/${c.total} · ${c.failed ?? 0} failed`) : "",
      run?.error ? h("span", { class: "error" }, run.error.message) : "");
    items.replaceChildren(...data.map((d) => {
      const add = d.pipelineStatus?.add_pipeline;
      const cog = d.pipelineStatus?.cognify_pipeline;
      return h("tr", { "data-item": d.originalName },
        h("td", {}, h("strong", {}, d.originalName), h("div", { class: "muted" }, d.mimeType)),
        h("td", { class: "muted" }, `${d.dataSize.toLocaleString()} B`),
        h("td", {}, badge(add?.state)),
        h("td", {}, badge(cog?.state), cog?.stage && cog.state === "processing" ? h("div", { class: "muted" }, cog.stage) : "",
          cog?.errorMessage ? h("div", { class: "error" }, cog.errorMessage) : ""),
        h("td", {}, h("a", { href: `/api/v1/datasets/${id}/data/${d.id}/raw`, class: "raw", download: d.originalName }, "Download")));
    }));
    if (!data.length) items.append(h("tr", {}, h("td", { colspan: 5, class: "muted" }, "No items yet.")));
  };
  await refresh();
  watch(id, refresh);
}

async function graphPage(id) {
  const dataset = (await api("/datasets")).find((d) => d.id === id);
  if (!dataset) throw new Error("No such dataset, or you cannot read it.");
  page(`${dataset.name} · graph`, "Pan, zoom, find a node; select one to see what supports it.");
  const graph = await api(`/datasets/${id}/graph`);
  const box = h("div", { id: "graph" });
  const side = h("div", { class: "card", id: "node-panel" }, h("p", { class: "muted" }, `${graph.nodes.length} entities, ${graph.edges.length} relations. Select a node.`));
  const find = h("input", { placeholder: "Find a node", id: "find-node", class: "grow" });
  app.append(h("div", { class: "card row" }, find, h("a", { href: `#/datasets/${id}` }, "Back to items")), h("div", { class: "graph-wrap" }, box, side));
  const palette = ["#3b5bdb", "#2b8a3e", "#e8590c", "#ae3ec9", "#0c8599", "#c92a2a", "#5c940d"];
  const counts = new Map();
  for (const n of graph.nodes) counts.set(n.type, (counts.get(n.type) ?? 0) + 1);
  const types = [...counts.keys()].sort((a, b) => counts.get(b) - counts.get(a) || a.localeCompare(b));
  const colorOf = (type) => palette[types.indexOf(type) % palette.length];
  const cy = cytoscape({
    container: box,
    elements: [
      ...graph.nodes.map((n) => ({ data: { id: n.id, label: n.label, type: n.type, color: colorOf(n.type), node: n } })),
      ...graph.edges.map((e, i) => ({ data: { id: `e${i}`, source: e.source, target: e.target, label: e.label } })),
    ],
    style: [
      { selector: "node", style: { "background-color": "data(color)", label: "data(label)", "font-size": 11, color: "#1d2433", "text-valign": "bottom", "text-margin-y": 4, width: 18, height: 18 } },
      { selector: "edge", style: { width: 1.2, "line-color": "#c3c9d5", "target-arrow-shape": "triangle", "target-arrow-color": "#c3c9d5", "curve-style": "bezier", label: "data(label)", "font-size": 8, color: "#98a2b3" } },
      { selector: "node:selected", style: { "border-width": 3, "border-color": "#111827", width: 26, height: 26 } },
      { selector: ".dim", style: { opacity: 0.15 } },
    ],
    layout: { name: "cose", animate: false, nodeRepulsion: 9000 },
    minZoom: 0.2,
    maxZoom: 2.5,
  });
  window.graphmillGraph = cy; // for the end-to-end tests
  // The legend: each node type in its colour with its count; a click shows only that type.
  let only = null;
  const legend = h("div", { id: "graph-legend", class: "legend" }, h("span", { class: "muted" }, "Node types"),
    ...types.map((type) => h("button", {
      type: "button", class: "legend-item", "data-type": type, title: `Show only ${type} nodes`,
      onclick: () => {
        only = only === type ? null : type;
        cy.elements().removeClass("dim");
        for (const item of legend.querySelectorAll(".legend-item")) item.classList.toggle("off", only !== null && item.dataset.type !== only);
        if (only) cy.elements().not(cy.nodes().filter((n) => n.data("type") === only)).addClass("dim");
      },
    }, h("span", { class: "swatch", style: `background:${colorOf(type)}` }), type, h("span", { class: "count" }, String(counts.get(type))))));
  box.after(legend);
  const show = async (node) => {
    const n = node.data("node");
    side.replaceChildren(h("h3", {}, n.label), badge(n.type), h("p", {}, n.properties.description || "No description."), h("p", { class: "muted" }, "Supported by:"));
    const sources = await api(`/datasets/${id}/graph/nodes/${n.id}/sources`);
    side.append(h("ul", { id: "node-sources" }, ...sources.map((s) => h("li", {}, h("a", { href: s.raw_url, download: s.name }, s.name), h("span", { class: "muted" }, ` · ${s.mentions} mention(s)`)))));
  };
  cy.on("tap", "node", (e) => show(e.target));
  find.oninput = () => {
    const q = find.value.trim().toLowerCase();
    cy.elements().removeClass("dim");
    if (!q) return;
    const hits = cy.nodes().filter((n) => n.data("label").toLowerCase().includes(q));
    cy.elements().not(hits).addClass("dim");
    if (hits.length) {
      cy.animate({ fit: { eles: hits.closedNeighborhood(), padding: 60 } }, { duration: 250 });
      if (hits.length === 1) { cy.nodes().unselect(); hits.select(); show(hits[0]); }
    }
  };
}

async function searchPage() {
  page("Search", "Answers from the datasets you can read, each with the files it came from.");
  const query = h("input", { placeholder: "Ask a question…", id: "query", class: "grow" });
  const type = h("select", { id: "search-type" }, ...["HYBRID_COMPLETION", "GRAPH_COMPLETION", "RAG_COMPLETION", "CHUNKS", "CHUNKS_LEXICAL", "SUMMARIES", "TEMPORAL"].map((t) => h("option", { value: t }, t)));
  const results = h("div", { id: "results" });
  const run = async () => {
    results.replaceChildren(h("p", { class: "muted" }, "Searching…"));
    try {
      const envelopes = await api("/search", json({ query: query.value, searchType: type.value, topK: 8, includeReferences: true }));
      results.replaceChildren(...envelopes.map((e) => h("div", { class: "card" },
        h("h3", {}, e.dataset_name),
        ...(e.search_result || []).map((r) => typeof r === "string"
          ? h("p", { class: "answer" }, r)
          : h("div", { class: "hit" }, h("p", {}, r.text ?? JSON.stringify(r)), r.raw_url ? h("a", { href: r.raw_url, class: "source" }, r.document_name) : "")),
        e.references?.length && !(e.search_result || []).some((r) => r?.raw_url) ? h("div", {}, h("p", { class: "muted" }, "Sources"), h("ul", {}, ...e.references.map((ref) => h("li", {}, h("a", { href: ref.raw_url, class: "source" }, ref.document_name), h("span", { class: "muted" }, ` chars ${ref.start}–${ref.end}`))))) : "",
        ...(e.notes || []).map((n) => h("p", { class: "muted" }, n)))));
      if (!envelopes.length) results.replaceChildren(h("p", { class: "muted" }, "Nothing to search yet."));
    } catch (error) {
      results.replaceChildren(h("p", { class: "error" }, error.message));
    }
  };
  app.append(h("form", { class: "card row", onsubmit: (e) => { e.preventDefault(); run(); } }, query, type, h("button", { type: "submit" }, "Search")), results);
}

// --- routing ---------------------------------------------------------------------------

async function render() {
  closeStreams();
  const hash = location.hash || "#/";
  if (hash === "#/login") return loginPage();
  let me;
  try {
    me = await api("/users/me");
  } catch {
    return;
  }
  navbar(me);
  try {
    let m;
    if ((m = hash.match(/^#\/datasets\/([\w-]+)\/graph$/))) await graphPage(m[1]);
    else if ((m = hash.match(/^#\/datasets\/([\w-]+)$/))) await datasetPage(m[1]);
    else if (hash === "#/search") await searchPage();
    else await datasetsPage();
  } catch (error) {
    fail(error);
  }
}

window.addEventListener("hashchange", render);
render();
