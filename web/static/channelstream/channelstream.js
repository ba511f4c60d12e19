// The channelstream browser client: one `ChannelStreamConnection` per page talks to the
// web application (which signs and forwards `connect`, `subscribe`, `message`, ... to the
// channelstream server) and listens to the server itself over a websocket, or by
// long-polling when websockets are off or missing. Same public API as the client shipped
// with channelstream 0.7.1; differences are listed in docs/COMPATIBILITY.md.

/** The longest wait between two reconnection attempts. */
const MAX_RETRY_INTERVAL_MS = 60000;
/** How often a websocket client tells the server it is alive. */
const HEARTBEAT_INTERVAL_MS = 10000;

/** The mutator lists, one per kind of call; see `addMutator`. */
const MUTATOR_TYPES = [
    "connect", "message", "messageEdit", "messageDelete",
    "subscribe", "unsubscribe", "disconnect", "userState",
];

/** `text` as JSON, or `text` itself when it is not JSON. */
function parseOrText(text) {
    try {
        return JSON.parse(text);
    } catch (_) {
        return text;
    }
}

/**
 * One HTTP call. Mutators receive it before it is sent and may change `url`, `body`
 * (sent as JSON) and `headers` (a list of `{name, value}`). After `execute`, `request`
 * is the `XMLHttpRequest`, which is also what the callbacks receive first.
 */
class ChannelStreamRequest {
    constructor(url, body) {
        this.url = url;
        this.body = body;
        this.headers = [];
        this.request = null;
        /** Called with (xhr, data) for a 2xx or 3xx answer. */
        this.handleResponse = () => {};
        /** Called with (xhr, data) for any other answer, a network error or an abort. */
        this.handleError = () => {};
    }

    /** Sends the call with `verb` (POST when there is a body, else GET, by default). */
    execute(verb) {
        const hasBody = this.body !== null && this.body !== undefined;
        const xhr = new XMLHttpRequest();
        this.request = xhr;
        xhr.open(verb || (hasBody ? "POST" : "GET"), this.url);
        for (const header of this.headers) {
            xhr.setRequestHeader(header.name, header.value);
        }
        xhr.onreadystatechange = () => {
            if (xhr.readyState !== XMLHttpRequest.DONE) {
                return;
            }
            const data = parseOrText(xhr.responseText);
            if (xhr.status >= 200 && xhr.status < 400) {
                this.handleResponse(xhr, data);
            } else {
                this.handleError(xhr, data);
            }
        };
        if (hasBody) {
            xhr.setRequestHeader("Content-Type", "application/json");
            xhr.send(JSON.stringify(this.body));
        } else {
            xhr.send();
        }
    }
}

/**
 * A page's connection to channelstream. Set the URLs, `username` and `channels`, override
 * the `*Callback` methods you need (by assignment or in a subclass), then `connect()`.
 */
export class ChannelStreamConnection {
    /** The client API version (that of channelstream 0.7.1's client). */
    static get version() {
        return "0.1.1";
    }

    constructor() {
        /** Log every callback to the console. */
        this.debug = false;
        /** Channels to subscribe to on `connect()`; kept current by the server's answers. */
        this.channels = [];
        /** The user this page connects as. */
        this.username = "Anonymous";
        /** The connection id the server gave on `connect()`. */
        this.connectionId = null;
        /** The current `WebSocket`, if listening over a websocket. */
        this.websocket = null;
        /** The server's websocket URL, e.g. `ws://host:8000/ws`. */
        this.websocketUrl = "";
        /** The application's URL that forwards `connect()` to the server. */
        this.connectUrl = "";
        /** The URL `disconnect()` posts to (the server's `/disconnect` or the application's). */
        this.disconnectUrl = "";
        /** The application's URL for `subscribe()`. */
        this.subscribeUrl = "";
        /** The application's URL for `unsubscribe()`. */
        this.unsubscribeUrl = "";
        /** The application's URL for `updateUserState()`. */
        this.userStateUrl = "";
        /** The application's URL for `message()` (POST). */
        this.messageUrl = "";
        /** The application's URL for `edit()` (PATCH). */
        this.messageEditUrl = "";
        /** The application's URL for `delete()` (DELETE). */
        this.messageDeleteUrl = "";
        /** The server's long-poll URL, e.g. `http://host:8000/listen`. */
        this.longPollUrl = "";
        /** Connect again (with growing pauses) after the connection is lost. */
        this.shouldReconnect = true;
        /** Send a heartbeat over the websocket every 10 s. */
        this.heartbeats = true;
        /** How much longer each successive reconnection pause is, in milliseconds. */
        this.increaseBounceIv = 2000;
        /** The pause before the next reconnection attempt; back to 0 once a connection works. */
        this._currentBounceIv = 0;
        /** Long-poll instead of websockets (also set when the browser has no WebSocket). */
        this.noWebsocket = false;
        /** Whether a websocket is open or a long-poll is out. */
        this.connected = false;
        /**
         * Functions run, in the order added, on each call's request before it is sent;
         * see `addMutator`.
         */
        this.mutators = Object.fromEntries(MUTATOR_TYPES.map((type) => [type, []]));

        /**
         * Ask the server for positions and, on reconnecting, for what was missed
         * (docs/API.md "Recovery after reconnect"; beyond channelstream 0.7.1, whose
         * server ignores the extra query parameter).
         */
        this.recover = true;
        /** The last position seen per channel, sent when listening again. */
        this.positions = {};

        this._heartbeat = undefined;
        this._ajaxListen = null;
        this._retryTimer = null;
    }

    /**
     * Adds `func(request)` to the mutators of one kind of call (`connect`, `message`,
     * `messageEdit`, `messageDelete`, `subscribe`, `unsubscribe`, `disconnect`,
     * `userState`), e.g. to add a header: `request.headers.push({name, value})`.
     */
    addMutator(type, func) {
        if (!Object.prototype.hasOwnProperty.call(this.mutators, type)) {
            throw new Error("unknown mutator type: " + type);
        }
        this.mutators[type].push(func);
    }

    /** A request for `url` with `body`, after the mutators of `type` ran on it. */
    _request(type, url, body) {
        const request = new ChannelStreamRequest(url, body);
        for (const mutate of this.mutators[type]) {
            mutate(request);
        }
        return request;
    }

    /** Asks the application for a connection, then starts listening. */
    connect() {
        clearTimeout(this._retryTimer);
        this._retryTimer = null;
        const request = this._request("connect", this.connectUrl, {
            username: this.username,
            channels: this.channels,
        });
        request.handleResponse = (xhr, data) => this._onConnected(xhr, data);
        request.handleError = (xhr, data) => {
            this.connected = false;
            this.retryConnection(xhr, data);
            this.connectErrorCallback(xhr, data);
        };
        request.execute("POST");
    }

    _onConnected(xhr, data) {
        this._stopListening();
        this.connectionId = data.conn_id;
        this.channels = data.channels;
        this.channelsChangedCallback(this.channels);
        this.connectCallback(xhr, data);
        this.startListening(xhr, data);
    }

    /** Changes the user's public state. */
    updateUserState(stateObj) {
        const request = this._request("userState", this.userStateUrl, {
            username: this.username,
            conn_id: this.connectionId,
            update_state: stateObj,
        });
        request.handleResponse = (xhr, data) => this.setUserStateCallback(xhr, data);
        request.handleError = (xhr, data) => this.setUserStateErrorCallback(xhr, data);
        request.execute("POST");
    }

    /** Subscribes to `channels` (nothing is sent for an empty list). */
    subscribe(channels) {
        const request = this._request("subscribe", this.subscribeUrl, {
            channels: channels,
            conn_id: this.connectionId,
        });
        request.handleResponse = (xhr, data) => {
            this._setChannels(data);
            this.subscribeCallback(xhr, data);
        };
        request.handleError = (xhr, data) => this.subscribeErrorCallback(xhr, data);
        if (request.body.channels && request.body.channels.length) {
            request.execute("POST");
        }
    }

    /** Unsubscribes from `channels`. */
    unsubscribe(channels) {
        const request = this._request("unsubscribe", this.unsubscribeUrl, {
            channels: channels,
            conn_id: this.connectionId,
        });
        request.handleResponse = (xhr, data) => {
            this._setChannels(data);
            this.unsubscribeCallback(xhr, data);
        };
        request.handleError = (xhr, data) => this.unsubscribeErrorCallback(xhr, data);
        request.execute("POST");
    }

    _setChannels(data) {
        this.channels = data.channels;
        this.channelsChangedCallback(this.channels);
    }

    /** The channels of `channels` this connection is not subscribed to yet. */
    calculateSubscribe(channels) {
        return (channels || []).filter((c) => !this.channels.includes(c));
    }

    /** The channels of `channels` this connection is subscribed to. */
    calculateUnsubscribe(channels) {
        return (channels || []).filter((c) => this.channels.includes(c));
    }

    /** Tells the server this connection is over and stops listening (no reconnection). */
    disconnect() {
        const url = this.disconnectUrl + "?conn_id=" + this.connectionId;
        const request = this._request("disconnect", url, {conn_id: this.connectionId});
        request.handleResponse = (xhr, data) => {
            this.connected = false;
            this.disconnectCallback(xhr, data);
        };
        request.execute("POST");
        this.closeConnection();
    }

    /** Sends a message (POST to `messageUrl`). */
    message(message) {
        const request = this._request("message", this.messageUrl, message);
        request.handleResponse = (xhr, data) => this.messageCallback(xhr, data);
        request.handleError = (xhr, data) => this.messageErrorCallback(xhr, data);
        request.execute("POST");
    }

    /** Deletes a message (DELETE to `messageDeleteUrl`). */
    delete(message) {
        const request = this._request("messageDelete", this.messageDeleteUrl, message);
        request.handleResponse = (xhr, data) => this.messageDeleteCallback(xhr, data);
        request.handleError = (xhr, data) => this.messageDeleteErrorCallback(xhr, data);
        request.execute("DELETE");
    }

    /** Edits a message (PATCH to `messageEditUrl`). */
    edit(message) {
        const request = this._request("messageEdit", this.messageEditUrl, message);
        request.handleResponse = (xhr, data) => this.messageEditCallback(xhr, data);
        request.handleError = (xhr, data) => this.messageEditErrorCallback(xhr, data);
        request.execute("PATCH");
    }

    /** Opens the websocket, or the first long-poll. */
    startListening(request, data) {
        this.beforeListeningCallback(request, data);
        if (!this.noWebsocket && typeof WebSocket === "undefined") {
            this.noWebsocket = true;
        }
        if (this.noWebsocket) {
            this.openLongPoll();
        } else {
            this.openWebsocket();
        }
    }

    /** Opens a websocket for `connectionId`; a lost socket leads to `retryConnection`. */
    openWebsocket() {
        this._stopListening();
        const socket = new WebSocket(
            this.websocketUrl + "?conn_id=" + this.connectionId + this._recoverParam());
        this.websocket = socket;
        socket.onopen = (event) => {
            this.connected = true;
            this.listenOpenedCallback(event);
            this.createHeartBeats();
        };
        socket.onmessage = (event) => {
            const data = parseOrText(event.data);
            // The server knows this connection: the next loss starts a fresh back-off.
            this._currentBounceIv = 0;
            this._deliver(data);
        };
        socket.onerror = (event) => {
            this.connected = false;
            this.listenErrorCallback(event);
        };
        socket.onclose = (event) => {
            this.connected = false;
            this._stopHeartbeats();
            this.listenCloseCallback(event);
            this.retryConnection();
        };
    }

    /** Opens one long-poll; an answer opens the next, an error leads to `retryConnection`. */
    openLongPoll() {
        const request = new ChannelStreamRequest(
            this.longPollUrl + "?conn_id=" + this.connectionId + this._recoverParam(), null);
        const current = () => this._ajaxListen === request;
        request.handleResponse = (xhr, data) => {
            if (!current()) {
                return;
            }
            this._currentBounceIv = 0;
            setTimeout(() => {
                if (current()) {
                    this.openLongPoll();
                }
            }, 0);
            this._deliver(data);
        };
        request.handleError = (xhr, data) => {
            if (!current()) {
                return;
            }
            this._ajaxListen = null;
            this.connected = false;
            this.listenErrorCallback(xhr, data);
            this.retryConnection(xhr, data);
        };
        const previous = this._ajaxListen;
        this._ajaxListen = request;
        if (previous && previous.request) {
            previous.request.abort(); // ignored by its handlers: it is no longer current
        }
        request.execute("GET");
        this.connected = true;
        this.listenOpenedCallback(request.request);
    }

    /** `&recover=<positions as JSON>` when `recover` is on, else nothing. */
    _recoverParam() {
        if (!this.recover) {
            return "";
        }
        return "&recover=" + encodeURIComponent(JSON.stringify(this.positions));
    }

    /**
     * Hands a list the server sent to `listenMessageCallback`, minus what the recovery
     * extension adds: a channel message at a position already seen is a repeat (dropped);
     * the `recovery` report that ends a catch-up updates `positions` and is not passed
     * on, and the channels it says could not be fully replayed go to
     * `recoveryFailedCallback`.
     */
    _deliver(data) {
        if (!Array.isArray(data) || data.length === 0) {
            this.listenMessageCallback(data);
            return;
        }
        const fresh = [];
        const failed = [];
        for (const m of data) {
            if (m && m.type === "recovery" && m.channels && typeof m.channels === "object") {
                for (const [channel, state] of Object.entries(m.channels)) {
                    this.positions[channel] = state.pos;
                    if (state.recovered === false) {
                        failed.push(channel);
                    }
                }
                continue;
            }
            if (m && typeof m.pos === "number" && typeof m.channel === "string") {
                const seen = this.positions[m.channel];
                if (typeof seen === "number" && m.pos <= seen) {
                    continue;
                }
                this.positions[m.channel] = m.pos;
            }
            fresh.push(m);
        }
        if (fresh.length > 0) {
            this.listenMessageCallback(fresh);
        }
        if (failed.length > 0) {
            this.recoveryFailedCallback(failed);
        }
    }

    /**
     * Calls `connect()` again after a pause that grows by `increaseBounceIv` with each
     * attempt, up to a minute, unless `shouldReconnect` is off or an attempt is pending.
     */
    retryConnection() {
        if (!this.shouldReconnect || this._retryTimer !== null) {
            return;
        }
        this._currentBounceIv = Math.min(
            this._currentBounceIv + this.increaseBounceIv, MAX_RETRY_INTERVAL_MS);
        this._retryTimer = setTimeout(() => {
            this._retryTimer = null;
            this.connect();
        }, this._currentBounceIv);
    }

    /** Stops listening and any pending reconnection, on purpose. */
    closeConnection() {
        clearTimeout(this._retryTimer);
        this._retryTimer = null;
        this._stopListening();
        this.connected = false;
        this.connectionClosedCallback();
    }

    /** Closes the websocket or aborts the long-poll without triggering a reconnection. */
    _stopListening() {
        this._stopHeartbeats();
        const socket = this.websocket;
        if (socket) {
            socket.onopen = socket.onmessage = socket.onerror = socket.onclose = null;
            if (socket.readyState === WebSocket.CONNECTING || socket.readyState === WebSocket.OPEN) {
                socket.close();
            }
        }
        const poll = this._ajaxListen;
        this._ajaxListen = null;
        if (poll && poll.request) {
            poll.request.abort();
        }
    }

    /** Starts sending `{"type": "heartbeat"}` over the websocket every 10 s. */
    createHeartBeats() {
        if (this._heartbeat !== undefined || this.websocket === null || !this.heartbeats) {
            return;
        }
        this._heartbeat = setInterval(() => this._sendHeartBeat(), HEARTBEAT_INTERVAL_MS);
    }

    _sendHeartBeat() {
        const socket = this.websocket;
        if (this.heartbeats && socket && socket.readyState === WebSocket.OPEN) {
            socket.send(JSON.stringify({type: "heartbeat"}));
        }
    }

    _stopHeartbeats() {
        clearInterval(this._heartbeat);
        this._heartbeat = undefined;
    }

    _log(name, ...args) {
        if (this.debug) {
            console.log(name, ...args);
        }
    }

    // The hooks. Each does nothing but log when `debug` is on; replace the ones you need.

    /** Before the websocket or first long-poll opens, with the connect answer. */
    beforeListeningCallback(request, data) { this._log("beforeListeningCallback", request, data); }
    /** The websocket opened (with the event) or a long-poll was sent (with the XHR). */
    listenOpenedCallback(request, data) { this._log("listenOpenedCallback", request, data); }
    /** Messages arrived: `data` is the list the server sent. */
    listenMessageCallback(data) { this._log("listenMessageCallback", data); }
    /**
     * After a reconnect, the server no longer held everything sent to these channels
     * since the positions this page had seen (a list of channel names): some messages
     * were lost, so reload what the page shows of them (e.g. channel history).
     */
    recoveryFailedCallback(channels) { this._log("recoveryFailedCallback", channels); }
    /** The websocket closed (with the close event). */
    listenCloseCallback(request, data) { this._log("listenCloseCallback", request, data); }
    /** The websocket or long-poll failed. */
    listenErrorCallback(request, data) { this._log("listenErrorCallback", request, data); }
    /** `closeConnection()` (or `disconnect()`) stopped listening. */
    connectionClosedCallback() { this._log("connectionClosedCallback"); }
    /** `channels` changed (connect, subscribe, unsubscribe). */
    channelsChangedCallback(data) { this._log("channelsChangedCallback", data); }
    /** `connect()` succeeded. */
    connectCallback(request, data) { this._log("connectCallback", request, data); }
    /** `connect()` failed (a reconnection is scheduled). */
    connectErrorCallback(request, data) { this._log("connectErrorCallback", request, data); }
    /** `disconnect()` succeeded. */
    disconnectCallback(request, data) { this._log("disconnectCallback", request, data); }
    /** `message()` succeeded. */
    messageCallback(request, data) { this._log("messageCallback", request, data); }
    /** `message()` failed. */
    messageErrorCallback(request, data) { this._log("messageErrorCallback", request, data); }
    /** `edit()` succeeded. */
    messageEditCallback(request, data) { this._log("messageEditCallback", request, data); }
    /** `edit()` failed. */
    messageEditErrorCallback(request, data) { this._log("messageEditErrorCallback", request, data); }
    /** `delete()` succeeded. */
    messageDeleteCallback(request, data) { this._log("messageDeleteCallback", request, data); }
    /** `delete()` failed. */
    messageDeleteErrorCallback(request, data) { this._log("messageDeleteErrorCallback", request, data); }
    /** `subscribe()` succeeded. */
    subscribeCallback(request, data) { this._log("subscribeCallback", request, data); }
    /** `subscribe()` failed. */
    subscribeErrorCallback(request, data) { this._log("subscribeErrorCallback", request, data); }
    /** `unsubscribe()` succeeded. */
    unsubscribeCallback(request, data) { this._log("unsubscribeCallback", request, data); }
    /** `unsubscribe()` failed. */
    unsubscribeErrorCallback(request, data) { this._log("unsubscribeErrorCallback", request, data); }
    /** `updateUserState()` succeeded. */
    setUserStateCallback(request, data) { this._log("setUserStateCallback", request, data); }
    /** `updateUserState()` failed. */
    setUserStateErrorCallback(request, data) { this._log("setUserStateErrorCallback", request, data); }
}
