// The demo chat at /demo, built on the browser client this server ships
// (/static/channelstream/index.js). The server is also the demo's application: the
// client's connectUrl, messageUrl and the others point at /demo/..., where the server
// checks each call as a chat user's and runs it. The page listens on the server's
// websocket (/ws) like any channelstream page.
//
// Everything shown comes from other people, so it is only ever set with textContent,
// never parsed as markup; the page's Content-Security-Policy also forbids inline scripts.

import {ChannelStreamConnection} from "../static/channelstream/index.js";

/** Every demo user and channel name starts with this; it is not shown. */
const PREFIX = "demo:";
/** The channels the server lets the demo join (src/web/demo/mod.rs `CHANNELS`). */
const CHANNELS = ["demo:lobby", "demo:random", "demo:help"];
/** The view of private messages (sent and received). */
const PRIVATE = "private";
/** Messages kept per view; older ones are dropped from the page. */
const MAX_SHOWN = 200;
/** Where the page remembers its name and connection for a reload. */
const SESSION_KEY = "channelstream-demo";

/** A URL next to this module (`/demo/connect`), or on the server (`../ws`). */
const here = (path) => new URL(path, import.meta.url);

const $ = (id) => document.getElementById(id);

/** A name as shown: without the demo prefix. */
const shown = (name) => (String(name).startsWith(PREFIX) ? String(name).slice(PREFIX.length) : String(name));

/** An element with `className` and text, built without parsing any markup. */
function el(tag, className, text) {
    const e = document.createElement(tag);
    if (className) e.className = className;
    if (text !== undefined) e.textContent = text;
    return e;
}

const state = {
    /** The full name connected as (`demo:NAME`), or null before joining. */
    me: null,
    /** The view shown: a channel or PRIVATE. */
    active: CHANNELS[0],
    /** Channels this connection is in. */
    joined: [],
    /** view -> Map(uuid -> message | notice), in arrival order. */
    views: new Map(),
    /** channel -> sorted list of full user names present. */
    people: new Map(),
    /** full user name -> status. */
    statuses: new Map(),
    /** view -> messages arrived while it was not shown. */
    unread: new Map(),
    /** The full name private messages go to, or null. */
    pmTo: null,
    /** The message being edited: {uuid, channel, to}, or null. */
    editing: null,
};

let notices = 0;
const conn = new ChannelStreamConnection();

function setUp() {
    conn.connectUrl = here("connect").href;
    conn.subscribeUrl = here("subscribe").href;
    conn.unsubscribeUrl = here("unsubscribe").href;
    conn.messageUrl = here("message").href;
    conn.messageEditUrl = here("message").href;
    conn.messageDeleteUrl = here("message").href;
    conn.userStateUrl = here("user_state").href;
    conn.disconnectUrl = here("../disconnect").href;
    conn.longPollUrl = here("../listen").href;
    const ws = here("../ws");
    ws.protocol = ws.protocol === "https:" ? "wss:" : "ws:";
    conn.websocketUrl = ws.href;
    conn.channels = [CHANNELS[0]];
    // The connection id stands for the name once connected; passing the last one lets
    // a reload or a reconnection keep the name while its old connection is still alive.
    conn.addMutator("connect", (request) => {
        request.body.conn_id = conn.connectionId;
        // A status set before a reconnection is kept; a fresh page leaves the server's.
        const mine = state.me ? state.statuses.get(state.me) : undefined;
        if (typeof mine === "string") request.body.status = mine;
    });

    conn.connectCallback = (xhr, data) => onConnected(data);
    conn.connectErrorCallback = (xhr, data) => {
        if (xhr.status >= 400 && xhr.status < 500) {
            conn.closeConnection(); // a refusal (name taken, bad name): no retrying
            showJoin(describe(data, xhr));
        } else {
            setLink("reconnecting…");
        }
    };
    conn.listenOpenedCallback = () => setLink("");
    conn.listenCloseCallback = () => setLink("reconnecting…");
    conn.listenMessageCallback = (list) => {
        for (const m of Array.isArray(list) ? list : []) receive(m);
        render();
    };
    conn.subscribeCallback = (xhr, data) => {
        takeChannelsInfo(data.channels_info);
        render();
    };
    conn.unsubscribeCallback = (xhr, data) => {
        for (const c of data.unsubscribed_from || []) {
            state.people.delete(c);
            state.views.delete(c);
        }
        render();
    };
    const failed = (xhr, data) => showError(describe(data, xhr));
    conn.subscribeErrorCallback = failed;
    conn.unsubscribeErrorCallback = failed;
    conn.messageErrorCallback = failed;
    conn.messageEditErrorCallback = failed;
    conn.messageDeleteErrorCallback = failed;
    conn.setUserStateErrorCallback = failed;
    conn.setUserStateCallback = (xhr, data) => {
        state.statuses.set(state.me, (data.user_state || {}).status || "");
        render();
    };
    conn.channelsChangedCallback = (channels) => {
        state.joined = (channels || []).filter((c) => CHANNELS.includes(c));
        if (state.active !== PRIVATE && !state.joined.includes(state.active)) {
            state.active = state.joined[0] || PRIVATE;
        }
        render();
    };

    $("join-form").addEventListener("submit", (e) => {
        e.preventDefault();
        join($("name-input").value.trim());
    });
    $("compose").addEventListener("submit", (e) => {
        e.preventDefault();
        send();
    });
    $("compose-cancel").addEventListener("click", () => {
        state.editing = null;
        state.pmTo = null;
        $("text-input").value = "";
        render();
    });
    $("status-form").addEventListener("submit", (e) => {
        e.preventDefault();
        conn.updateUserState({status: $("status-input").value});
    });
    $("quit-button").addEventListener("click", quit);

    const saved = readSession();
    if (saved) {
        conn.connectionId = saved.conn;
        $("name-input").value = saved.name;
        join(saved.name);
    }
}

function readSession() {
    try {
        const s = JSON.parse(sessionStorage.getItem(SESSION_KEY) || "null");
        return s && typeof s.name === "string" ? s : null;
    } catch (_) {
        return null;
    }
}

function join(name) {
    if (!name) {
        showJoin("Pick a name first.");
        return;
    }
    $("join-error").textContent = "";
    $("join-button").disabled = true;
    conn.username = name;
    conn.shouldReconnect = true;
    conn.connect();
}

function quit() {
    sessionStorage.removeItem(SESSION_KEY);
    conn.disconnect();
    conn.connectionId = null;
    state.me = null;
    state.views.clear();
    state.people.clear();
    showJoin("");
}

function onConnected(data) {
    state.me = data.username;
    sessionStorage.setItem(SESSION_KEY, JSON.stringify({name: conn.username, conn: data.conn_id}));
    state.statuses.set(state.me, (data.public_state || {}).status || "");
    takeChannelsInfo(data.channels_info);
    $("join").hidden = true;
    $("chat").hidden = false;
    $("me").hidden = false;
    $("status-form").hidden = false;
    $("join-button").disabled = false;
    $("me-name").textContent = shown(state.me);
    render();
}

/** Presence, statuses and history from a connect or subscribe answer. */
function takeChannelsInfo(info) {
    if (!info) return;
    for (const u of info.users || []) {
        state.statuses.set(u.user, (u.state || {}).status || "");
    }
    for (const [name, ch] of Object.entries(info.channels || {})) {
        state.people.set(name, (ch.users || []).slice().sort());
        for (const m of ch.history || []) addMessage(m, false);
    }
}

/** One message from the server. */
function receive(m) {
    if (!m || typeof m !== "object") return;
    switch (m.type) {
        case "message":
            addMessage(m, true);
            break;
        case "message:edit":
            for (const view of state.views.values()) {
                const old = view.get(m.uuid);
                if (old && old.kind === "message") {
                    old.text = textOf(m.message);
                    old.edited = true;
                }
            }
            break;
        case "message:delete":
            for (const view of state.views.values()) view.delete(m.uuid);
            break;
        case "presence": {
            if (Array.isArray(m.users)) {
                for (const u of m.users) state.statuses.set(u.user, (u.state || {}).status || "");
                state.people.set(m.channel, m.users.map((u) => u.user).sort());
            }
            const action = (m.message || {}).action === "joined" ? "joined" : "left";
            addNotice(m.channel, `${shown(m.user)} ${action}`);
            break;
        }
        case "user_state_change":
            state.statuses.set(m.user, ((m.message || {}).state || {}).status || "");
            break;
        default:
            break;
    }
}

function textOf(message) {
    return message && typeof message.text === "string" ? message.text : "";
}

function viewOf(view) {
    if (!state.views.has(view)) state.views.set(view, new Map());
    return state.views.get(view);
}

function addMessage(m, fresh) {
    if (typeof m.uuid !== "string") return;
    const view = m.channel ? m.channel : PRIVATE;
    const list = viewOf(view);
    if (list.has(m.uuid)) return; // a catch-up copy, or history already shown
    const to = m.channel ? null : (m.message || {}).to || null;
    list.set(m.uuid, {
        kind: "message", uuid: m.uuid, user: String(m.user), text: textOf(m.message),
        to: typeof to === "string" ? to : null, channel: m.channel || null,
        edited: Boolean(m.edited), timestamp: String(m.timestamp || ""),
    });
    trim(list);
    if (fresh && view !== state.active) {
        state.unread.set(view, (state.unread.get(view) || 0) + 1);
    }
}

function addNotice(view, text) {
    notices += 1;
    const list = viewOf(view);
    list.set("notice-" + notices, {kind: "notice", text});
    trim(list);
}

function trim(list) {
    while (list.size > MAX_SHOWN) list.delete(list.keys().next().value);
}

/** The server's error object (or text) as one line. */
function describe(data, xhr) {
    if (data && typeof data === "object") {
        const parts = [];
        for (const [key, value] of Object.entries(data)) {
            parts.push(`${key}: ${Array.isArray(value) ? value.join(" ") : JSON.stringify(value)}`);
        }
        if (parts.length) return parts.join("; ");
    }
    return xhr && xhr.status ? `The server said ${xhr.status}.` : "The server cannot be reached.";
}

function send() {
    const text = $("text-input").value;
    if (!text.trim() || !state.me) return;
    showError("");
    const body = {conn_id: conn.connectionId, text};
    const e = state.editing;
    if (e) {
        Object.assign(body, e.channel ? {channel: e.channel} : {to: e.to}, {uuid: e.uuid});
        conn.edit(body);
        state.editing = null;
    } else if (state.pmTo) {
        conn.message(Object.assign(body, {to: state.pmTo}));
    } else if (state.active !== PRIVATE) {
        conn.message(Object.assign(body, {channel: state.active}));
    } else {
        showError("Pick someone under “Here” to write to privately.");
        return;
    }
    $("text-input").value = "";
    render();
}

function remove(m) {
    const body = {conn_id: conn.connectionId, uuid: m.uuid};
    conn.delete(Object.assign(body, m.channel ? {channel: m.channel} : {to: m.to}));
}

function showJoin(error) {
    $("join").hidden = false;
    $("chat").hidden = true;
    $("me").hidden = true;
    $("status-form").hidden = true;
    $("join-button").disabled = false;
    $("join-error").textContent = error;
}

function showError(text) {
    $("compose-error").textContent = text;
}

function setLink(text) {
    $("link-state").textContent = text;
}

function render() {
    if (!state.me) return;
    renderTabs();
    renderMessages();
    renderPeople();
    renderCompose();
}

function renderTabs() {
    const tabs = $("tabs");
    tabs.replaceChildren();
    for (const c of [...CHANNELS, PRIVATE]) {
        const tab = el("div", "tab");
        tab.dataset.view = c;
        const joined = c === PRIVATE || state.joined.includes(c);
        if (c === state.active) tab.classList.add("active");
        const open = el("button", "open", c === PRIVATE ? "Private" : "#" + shown(c));
        open.type = "button";
        open.disabled = !joined;
        open.addEventListener("click", () => {
            state.active = c;
            state.pmTo = null;
            render();
        });
        tab.append(open);
        const unread = state.unread.get(c) || 0;
        if (unread && c !== state.active) tab.append(el("span", "unread", String(unread)));
        if (c !== PRIVATE) {
            const toggle = el("button", joined ? "leave" : "enter", joined ? "Leave" : "Join");
            toggle.type = "button";
            toggle.addEventListener("click", () => {
                if (joined) conn.unsubscribe([c]);
                else {
                    state.active = c;
                    conn.subscribe([c]);
                }
            });
            tab.append(toggle);
        }
        tabs.append(tab);
    }
}

function renderMessages() {
    state.unread.delete(state.active);
    const ol = $("messages");
    const atBottom = ol.scrollTop + ol.clientHeight >= ol.scrollHeight - 8;
    ol.replaceChildren();
    for (const m of (state.views.get(state.active) || new Map()).values()) {
        if (m.kind === "notice") {
            ol.append(el("li", "notice", m.text));
            continue;
        }
        const li = el("li", "msg");
        li.dataset.uuid = m.uuid;
        if (m.user === state.me) li.classList.add("mine");
        li.append(el("span", "time", clock(m.timestamp)));
        const who = m.to ? `${shown(m.user)} → ${shown(m.to)}` : shown(m.user);
        li.append(el("span", "who", who));
        li.append(el("span", "text", m.text));
        if (m.edited) li.append(el("span", "edited", "(edited)"));
        if (m.user === state.me) {
            const edit = el("button", "edit", "Edit");
            edit.type = "button";
            edit.addEventListener("click", () => {
                state.editing = {uuid: m.uuid, channel: m.channel, to: m.to};
                $("text-input").value = m.text;
                render();
                $("text-input").focus();
            });
            const del = el("button", "delete", "Delete");
            del.type = "button";
            del.addEventListener("click", () => remove(m));
            li.append(edit, del);
        }
        ol.append(li);
    }
    if (atBottom) ol.scrollTop = ol.scrollHeight;
}

/** `HH:MM` in local time from the server's UTC timestamp. */
function clock(timestamp) {
    const t = /Z|[+-]\d\d:\d\d$/.test(timestamp) ? timestamp : timestamp + "Z";
    const d = new Date(t);
    return isNaN(d) ? "" : d.toLocaleTimeString([], {hour: "2-digit", minute: "2-digit"});
}

function renderPeople() {
    const ul = $("people");
    ul.replaceChildren();
    let names;
    if (state.active === PRIVATE) {
        names = [...new Set([...state.people.values()].flat())].sort();
    } else {
        names = state.people.get(state.active) || [];
    }
    for (const name of names) {
        const li = el("li", "person");
        li.dataset.user = name;
        li.append(el("span", "name", shown(name)));
        const status = state.statuses.get(name) || "";
        if (status) li.append(el("span", "status", status));
        if (name === state.me) {
            li.classList.add("me");
        } else {
            const pm = el("button", "pm", "Private");
            pm.type = "button";
            pm.addEventListener("click", () => {
                state.pmTo = name;
                state.editing = null;
                render();
                $("text-input").focus();
            });
            li.append(pm);
        }
        ul.append(li);
    }
}

function renderCompose() {
    let label;
    if (state.editing) label = "Editing your message";
    else if (state.pmTo) label = "Privately to " + shown(state.pmTo);
    else if (state.active === PRIVATE) label = "Pick someone under “Here” to write privately";
    else label = "To #" + shown(state.active);
    $("compose-label").textContent = label;
    $("compose-cancel").hidden = !(state.editing || state.pmTo);
    $("send-button").textContent = state.editing ? "Save" : "Send";
}

setUp();
// For the browser tests (and the curious, from the console): the page's state and client.
window.demoState = state;
window.demoConn = conn;
window.demoReady = true;
