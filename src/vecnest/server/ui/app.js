// vecnest web page: plain JavaScript against this server's /v1 API; no external resources.
"use strict";
const $ = (id) => document.getElementById(id);
const keyInput = $("api-key");
keyInput.value = sessionStorage.getItem("vecnest-key") || "";
keyInput.addEventListener("change", () => { sessionStorage.setItem("vecnest-key", keyInput.value); init(); });

async function api(method, path, body) {
  const headers = { "Accept": "application/json" };
  if (keyInput.value) headers["Authorization"] = "Bearer " + keyInput.value;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch("/v1" + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (!response.ok) {
    let detail = response.statusText;
    try { const e = (await response.json()).error; detail = e.type + ": " + e.message; } catch (_) { /* not JSON */ }
    throw new Error(detail);
  }
  return response;
}
const getJSON = async (path) => (await api("GET", path)).json();

function status(text, isError) {
  const el = $("status");
  el.textContent = text;
  el.className = isError ? "error" : "";
}

function parseFilter(id) {
  const text = $(id).value.trim();
  if (!text) return null;
  try { return JSON.parse(text); } catch (e) { throw new Error(id + " is not valid JSON: " + e.message); }
}

function cell(row, text, cls) {
  const td = document.createElement("td");
  if (cls) td.className = cls;
  td.textContent = text;
  row.appendChild(td);
  return td;
}

function render(result) {
  const body = $("results").querySelector("tbody");
  body.replaceChildren();
  const scores = result.hits.map((h) => h.score);
  const hi = Math.max(...scores), lo = Math.min(...scores), span = hi - lo || 1;
  result.hits.forEach((hit, i) => {
    const tr = document.createElement("tr");
    tr.className = "hit";
    cell(tr, String(i + 1));
    const sc = cell(tr, "", "score");
    const bar = document.createElement("span");
    bar.className = "bar";
    bar.style.width = (4 + 56 * (hit.score - lo) / span) + "px";  // relative within this list
    sc.append(bar, hit.score.toFixed(4));
    cell(tr, hit.id);
    cell(tr, hit.text === null ? "" : hit.text);
    cell(tr, JSON.stringify(hit.metadata), "meta");
    body.appendChild(tr);
  });
  $("results").hidden = false;
  $("plan-box").hidden = !result.plan;
  $("plan").textContent = result.plan ? JSON.stringify(result.plan, null, 2) : "";
}

async function search(event) {
  if (event) event.preventDefault();
  const name = $("collection").value;
  const query = $("query").value.trim();
  if (!name) return status("no collection to search", true);
  if (!query) return status("type a query", true);
  try {
    const body = { query, k: Number($("k").value) || 10, explain: $("explain").checked,
                   where: parseFilter("where"), where_document: parseFilter("where-document") };
    if ($("mode").dataset.enabled === "yes") body.mode = $("mode").value;
    const t0 = performance.now();
    const result = await (await api("POST", "/collections/" + encodeURIComponent(name) + "/search", body)).json();
    render(result);
    status(result.hits.length + " results in " + (performance.now() - t0).toFixed(0) + " ms (round trip)");
  } catch (e) { status(e.message, true); }
}

async function showStats() {
  const name = $("collection").value;
  const dl = $("stats");
  dl.replaceChildren();
  if (!name) return;
  try {
    const s = await getJSON("/collections/" + encodeURIComponent(name) + "/stats");
    const idx = s.config.index || {};
    const rows = [["name", s.name], ["documents", s.count.toLocaleString()], ["dimension", s.config.dim],
      ["metric", s.config.metric], ["model", s.config.encoder ? s.config.encoder.name : "none (vectors)"],
      ["index", idx.kind || "exact"], ["indexed fields", (s.config.indexed_fields || []).join(", ") || "none"]];
    for (const [part, bytes] of Object.entries(s.disk_bytes)) rows.push([part + " bytes", bytes === null ? "?" : bytes.toLocaleString()]);
    for (const [part, bytes] of Object.entries(s.index_bytes)) rows.push(["index " + part, bytes.toLocaleString()]);
    rows.push(["compression", s.compression || "none (float32 scans)"]);
    for (const [part, b] of Object.entries(s.bytes_per_vector || {})) {
      const ram = b.ram_resident === undefined || b.ram_resident === null ? "?" : b.ram_resident.toFixed(1);
      rows.push([part + " B/vector", "RAM " + ram + " · disk " + (b.disk || 0).toFixed(1) + " (" + b.where + ")"]);
    }
    for (const [k, v] of rows) {
      const dt = document.createElement("dt"); dt.textContent = k;
      const dd = document.createElement("dd"); dd.textContent = String(v);
      dl.append(dt, dd);
    }
  } catch (e) { status(e.message, true); }
}

async function showReports() {
  const box = $("reports");
  try {
    const { reports } = await getJSON("/reports");
    if (!reports.length) return;
    box.replaceChildren();
    for (const folder of reports.slice(0, 5)) {
      const div = document.createElement("div");
      div.className = "report";
      const h = document.createElement("h3");
      h.textContent = folder.name + " (" + folder.modified + ")";
      div.appendChild(h);
      const table = document.createElement("table");
      for (const r of folder.reports) {
        const tr = document.createElement("tr");
        const q = Object.entries(r.quality).map(([m, v]) => m + " " + v.toFixed(4)).join(", ");
        cell(tr, r.dataset + " / " + (r.config.model || "?") + " / " + r.config.index);
        cell(tr, q);
        table.appendChild(tr);
      }
      div.appendChild(table);
      for (const file of folder.files.filter((f) => f.endsWith(".png"))) {
        const blob = await (await api("GET", "/reports/" + encodeURIComponent(folder.name) + "/" + encodeURIComponent(file))).blob();
        const img = document.createElement("img");
        img.alt = file;
        img.src = URL.createObjectURL(blob);
        div.appendChild(img);
      }
      box.appendChild(div);
    }
  } catch (e) { box.textContent = e.message; }
}

async function setupModes() {
  // the search modes this server's engine accepts, read from its OpenAPI document
  const select = $("mode");
  select.replaceChildren();
  let modes = [];
  try {
    const spec = await (await fetch("/openapi.json")).json();
    const mode = ((spec.components || {}).schemas || {}).Search?.properties?.mode;
    const options = mode ? (mode.enum || (mode.anyOf || []).flatMap((s) => s.enum || [])) : [];
    modes = options.length ? options : (mode ? ["dense", "lexical", "hybrid"] : []);
  } catch (_) { /* no schema: dense only */ }
  select.dataset.enabled = modes.length ? "yes" : "no";
  for (const m of (modes.length ? modes : ["dense"])) {
    const o = document.createElement("option"); o.value = m; o.textContent = m; select.appendChild(o);
  }
  select.disabled = !modes.length;
}

async function init() {
  try {
    const health = await getJSON("/health");
    $("version").textContent = "v" + health.version;
    const { collections } = await getJSON("/collections");
    const select = $("collection");
    select.replaceChildren();
    for (const name of collections) {
      const o = document.createElement("option"); o.value = name; o.textContent = name; select.appendChild(o);
    }
    status(collections.length ? "ready: " + collections.length + " collection(s)" : "no collections yet");
    await Promise.all([setupModes(), showStats(), showReports()]);
  } catch (e) { status(e.message, true); }
}

$("search-form").addEventListener("submit", search);
$("collection").addEventListener("change", showStats);
init();
