// The admin panel: reads admin/admin.json (the reference's admin document) every second
// with the session cookie and shows totals, channels and users. Everything shown comes
// from users of the API (channel names, messages, states), so it is only ever put into
// the page as text (textContent, text nodes), never as HTML.

const REFRESH_MS = 1000;
const HISTORY_SHOWN = 10;

let last = null;

/** An element with a class and children (strings become text nodes). */
function el(tag, className, ...children) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

function chips(items) {
  const ul = el("ul", "chips");
  for (const i of items) ul.append(el("li", "", i));
  return ul;
}

function card(label, value) {
  return el("div", "card", el("div", "value", value), el("div", "label", label));
}

function plural(n, word) {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

function json(v) {
  return JSON.stringify(v, null, 1);
}

function matches(filter, ...texts) {
  return !filter || texts.some((t) => String(t).toLowerCase().includes(filter));
}

function renderTotals(d) {
  document.getElementById("totals").replaceChildren(
    card("users connected", d.unique_user_count),
    card("users known", d.remembered_user_count),
    card("connections", d.total_connections),
    card("channels", d.total_channels),
    card("messages", d.total_messages),
    card("uptime", d.uptime),
    card("version", d.version),
  );
}

function renderChannels(d, filter) {
  const names = Object.keys(d.channels).sort();
  const out = [];
  for (const name of names) {
    const c = d.channels[name];
    if (!matches(filter, name, ...(c.users || []))) continue;
    const item = el("article", "item channel");
    item.dataset.name = name;
    item.append(el("h3", "", name));
    item.append(el("p", "", `${plural(c.total_users, "user")}, ${plural(c.total_connections, "connection")}`));
    const settings = Object.entries(c.settings || {}).map(([k, v]) => `${k}: ${v}`);
    item.append(chips(settings));
    if ((c.users || []).length) item.append(el("p", "", "Users: "), chips(c.users));
    const history = (c.history || []).slice(-HISTORY_SHOWN);
    if (history.length) {
      const lines = history.map((m) => `${m.timestamp} ${m.user}: ${json(m.message)}`);
      item.append(el("p", "", `History (last ${history.length}):`), el("pre", "", lines.join("\n")));
    }
    out.push(item);
  }
  if (!out.length) out.push(el("p", "status", names.length ? "No channel matches." : "No channels."));
  document.getElementById("channels").replaceChildren(...out);
}

function renderUsers(d, filter) {
  const users = [...d.users].sort((a, b) => a.user.localeCompare(b.user));
  const out = [];
  for (const u of users) {
    if (!matches(filter, u.user, ...(u.connections || []))) continue;
    const item = el("article", "item user");
    item.dataset.name = u.user;
    item.append(el("h3", "", u.user));
    item.append(el("p", "", `${plural((u.connections || []).length, "connection")}:`), chips(u.connections || []));
    item.append(el("p", "", "State:"), el("pre", "", json(u.state)));
    out.push(item);
  }
  if (!out.length) out.push(el("p", "status", users.length ? "No user matches." : "No users connected."));
  document.getElementById("users").replaceChildren(...out);
}

function render() {
  if (!last) return;
  const filter = document.getElementById("filter").value.trim().toLowerCase();
  renderTotals(last);
  renderChannels(last, filter);
  renderUsers(last, filter);
}

function setStatus(text, error) {
  const s = document.getElementById("status");
  s.textContent = text;
  s.className = error ? "error" : "";
}

async function refresh() {
  try {
    const res = await fetch("admin/admin.json", {
      headers: {Accept: "application/json"},
      credentials: "same-origin",
      redirect: "manual",
      cache: "no-store",
    });
    if (res.type === "opaqueredirect" || res.status === 401 || res.status === 403) {
      location.href = "admin/sign_in"; // the session ended
      return;
    }
    if (!res.ok) throw new Error(`admin.json answered ${res.status}`);
    last = await res.json();
    render();
    setStatus(`Updated ${new Date().toLocaleTimeString()}`, false);
  } catch (e) {
    setStatus(`Cannot refresh: ${e.message}`, true);
  } finally {
    setTimeout(refresh, REFRESH_MS);
  }
}

document.getElementById("filter").addEventListener("input", render);
refresh();
