// The API explorer: lists the operations of openapi.json with their parameters, bodies and
// answers, and sends a request as the signed-in admin (session cookie plus the page's
// X-CSRF-Token, docs/API.md). Every text from the document or an answer is shown with
// textContent only.

const csrf = document.querySelector('meta[name="csrf-token"]').content;
let spec = null;

function el(tag, className, ...children) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

/** `schema` with local `$ref`s replaced by what they point to (cycles cut at depth 8). */
function resolve(schema, depth = 0) {
  if (depth > 8 || schema === null || typeof schema !== "object") return schema;
  if (Array.isArray(schema)) return schema.map((s) => resolve(s, depth + 1));
  if (typeof schema.$ref === "string" && schema.$ref.startsWith("#/")) {
    let target = spec;
    for (const part of schema.$ref.slice(2).split("/")) target = target?.[part];
    return resolve(target, depth + 1);
  }
  const out = {};
  for (const [k, v] of Object.entries(schema)) out[k] = resolve(v, depth + 1);
  return out;
}

function pretty(v) {
  return JSON.stringify(v, null, 2);
}

/** Whether the explorer can send this operation (JSON API routes, not pages or files). */
function sendable(path, op) {
  return !path.includes("{") && path !== "/ws" && op["x-explorer-send"] !== false;
}

/** A line that opens to show `schema` (just the line when there is none). */
function folded(title, schema) {
  if (!schema) return el("p", "", title);
  const d = el("details", "", el("summary", "", title), el("pre", "", pretty(resolve(schema))));
  return d;
}

function operation(path, method, op) {
  const item = el("article", "item op");
  item.dataset.op = `${method.toUpperCase()} ${path}`;
  item.append(el("h3", "", el("span", "method", method), path));
  if (op.summary) item.append(el("p", "", op.summary));
  if (op.description) item.append(el("p", "status", op.description));
  // Each requirement is a set of schemes used together; any one requirement will do.
  const security = (op.security || spec.security || []).map((s) => Object.keys(s).join(" + "));
  item.append(el("p", "status", security.length ? `Auth: ${security.join(" or ")}` : "Auth: none"));
  for (const p of op.parameters || []) {
    item.append(el("p", "", `Parameter ${p.name} (${p.in}${p.required ? ", required" : ""}): ${p.description || ""}`));
  }
  const body = op.requestBody?.content?.["application/json"];
  if (body) item.append(folded("Request body", body.schema));
  for (const [code, ref] of Object.entries(op.responses || {})) {
    const r = resolve(ref) || {};
    const content = r.content && Object.values(r.content)[0];
    item.append(folded(`${code}: ${r.description || ""}`, content?.schema));
  }
  if (sendable(path, op)) item.append(tryIt(path, method, op, body));
  return item;
}

function tryIt(path, method, op, body) {
  const form = el("form", "try");
  const query = el("input", "query");
  query.type = "text";
  query.placeholder = "query string, e.g. conn_id=...";
  const text = el("textarea", "body");
  text.value = body ? pretty(body.example ?? resolve(body.schema)?.example ?? {}) : "";
  const send = el("button", "send", `Send ${method.toUpperCase()}`);
  send.type = "submit";
  const result = el("pre", "result hidden");
  if ((op.parameters || []).some((p) => p.in === "query")) form.append(query);
  if (body) form.append(text);
  form.append(send, result);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    send.disabled = true;
    result.classList.remove("hidden");
    result.textContent = "Sending…";
    const target = path.slice(1) + (query.value ? `?${query.value.replace(/^\?/, "")}` : "");
    const init = {method: method.toUpperCase(), credentials: "same-origin",
                  headers: {"X-CSRF-Token": csrf, Accept: "application/json"}};
    if (body) {
      init.headers["Content-Type"] = "application/json";
      init.body = text.value;
    }
    try {
      const res = await fetch(target, init);
      const answer = await res.text();
      result.textContent = `${res.status} ${res.statusText}\n\n${answer}`;
      // Set last: it says the whole answer is shown.
      result.dataset.status = String(res.status);
    } catch (err) {
      result.textContent = `Request failed: ${err.message}`;
    } finally {
      send.disabled = false;
    }
  });
  return form;
}

function render() {
  const filter = document.getElementById("filter").value.trim().toLowerCase();
  const out = [];
  for (const [path, item] of Object.entries(spec.paths)) {
    for (const [method, op] of Object.entries(item)) {
      if (!["get", "post", "patch", "delete", "put"].includes(method)) continue;
      const text = `${method} ${path} ${op.summary || ""}`.toLowerCase();
      if (filter && !text.includes(filter)) continue;
      out.push(operation(path, method, op));
    }
  }
  document.getElementById("operations").replaceChildren(...out);
}

async function load() {
  const status = document.getElementById("status");
  try {
    const res = await fetch("openapi.json", {credentials: "same-origin", cache: "no-store"});
    if (!res.ok) throw new Error(`openapi.json answered ${res.status}`);
    spec = await res.json();
    status.textContent = `${spec.info.title} ${spec.info.version}: ${Object.keys(spec.paths).length} paths`;
    render();
  } catch (e) {
    status.textContent = `Cannot load the specification: ${e.message}`;
    status.className = "error";
  }
}

document.getElementById("filter").addEventListener("input", () => spec && render());
load();
