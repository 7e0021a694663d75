/*
 * eio-client.js: a small Engine.IO v4 / Socket.IO v5 client of our own (no npm, no build step).
 *
 *   const socket = EioClient.connect(location.origin, {onOpen, onClose});
 *   socket.on("login", (data) => ...);
 *   socket.emit("new message", text, (ack) => ...);   // the last function argument is the ack
 *   socket.close();                                     // closes for good: no reconnect
 *
 * WebSocket only (`/socket.io/?EIO=4&transport=websocket`), no HTTP long-polling. A WebSocket lives on one
 * TCP connection to one task, so the page needs no load-balancer stickiness (long-polling sends many HTTP
 * requests that must all reach the task holding the Engine.IO session, or the server answers 400
 * "Session ID unknown"). The cost: no fallback on networks that block WebSocket.
 *
 * Connection-state recovery (Socket.IO v5): the CONNECT answer carries a private session id `pid`, and
 * broadcast events carry their stream offset as a last, extra string argument. On reconnect we send
 * 40{"pid","offset"}; if the answer holds the same pid, the session was recovered (the server replays what
 * we missed and kept our name) and onOpen reports {recovered: true}.
 *
 * Wire format (one packet per WebSocket text frame):
 *   Engine.IO:  0{json} open (sid, pingInterval, pingTimeout) | 1 close | 2 ping -> we answer 3 pong |
 *               4<Socket.IO packet> message | 6 noop
 *   Socket.IO:  0 connect (+ {sid}) | 1 disconnect | 2 event ["name",...args] | 3 ack [...args] |
 *               4 connect error {message}; an optional ack id (digits) sits before the JSON: 42<id>[...]
 *
 * Liveness: the server pings every pingInterval ms; if no ping arrives within pingInterval + pingTimeout,
 * the connection is dead (a frozen task, a half-open TCP connection) and we drop it. Every close that the
 * page did not ask for (network loss, server crash, task drained on scale-in, Socket.IO disconnect from
 * the server) is followed by a reconnect after an exponential backoff with jitter. Emits while
 * disconnected are dropped (emit returns false) and pending acks are forgotten: the page decides what to
 * resend.
 */
(function (global) {
  "use strict";

  const EIO = { OPEN: "0", CLOSE: "1", PING: "2", PONG: "3", MESSAGE: "4", NOOP: "6" };
  const SIO = { CONNECT: 0, DISCONNECT: 1, EVENT: 2, ACK: 3, CONNECT_ERROR: 4 };
  const DEFAULTS = {
    path: "/socket.io/",
    reconnect: true,
    reconnectDelayMs: 500, // first retry
    reconnectDelayMaxMs: 5000, // cap of the exponential backoff
    jitter: 0.5, // each delay is scaled by a random factor in [1 - jitter, 1 + jitter]
    connectTimeoutMs: 10000, // from opening the WebSocket to the Socket.IO connect answer
  };

  /** ws(s)://host/socket.io/?EIO=4&transport=websocket for an http(s) origin (or any URL on it). */
  function websocketUrl(url, path) {
    const target = new URL(path, url);
    target.protocol = target.protocol === "https:" || target.protocol === "wss:" ? "wss:" : "ws:";
    target.search = "?EIO=4&transport=websocket";
    target.hash = "";
    return target.toString();
  }

  /** Socket.IO packet text -> {type, nsp, id, data}; the chat uses only the main namespace "/". */
  function decodeSocketIo(text) {
    const type = Number(text.charAt(0));
    let i = 1;
    let nsp = "/";
    if (text.charAt(i) === "/") {
      const comma = text.indexOf(",", i);
      nsp = comma === -1 ? text.slice(i) : text.slice(i, comma);
      i = comma === -1 ? text.length : comma + 1;
    }
    let digits = "";
    while (i < text.length && text.charAt(i) >= "0" && text.charAt(i) <= "9") {
      digits += text.charAt(i);
      i += 1;
    }
    const rest = text.slice(i);
    const data = rest === "" ? undefined : JSON.parse(rest);
    return { type, nsp, id: digits === "" ? null : Number(digits), data };
  }

  /** Delay before reconnect attempt number `attempt` (0-based): exponential, capped, with jitter. */
  function backoffDelay(attempt, opts) {
    const base = Math.min(opts.reconnectDelayMaxMs, opts.reconnectDelayMs * Math.pow(2, attempt));
    const factor = 1 - opts.jitter + Math.random() * 2 * opts.jitter;
    return Math.max(0, Math.round(base * factor));
  }

  function connect(url, options) {
    const opts = Object.assign({}, DEFAULTS, options || {});
    const handlers = new Map(); // event name -> [fn]
    const acks = new Map(); // ack id -> fn
    let ws = null;
    let nextAckId = 0;
    let attempt = 0;
    let everConnected = false;
    let connected = false;
    let closedByPage = false;
    let deadTimer = null;
    let retryTimer = null;
    let heartbeatMs = 0;
    let pid = null; // private session id, for connection-state recovery
    let lastOffset = null; // offset of the last broadcast event received

    const socket = {
      id: null,
      get connected() {
        return connected;
      },
      on(event, fn) {
        if (!handlers.has(event)) handlers.set(event, []);
        handlers.get(event).push(fn);
        return socket;
      },
      off(event, fn) {
        const list = handlers.get(event) || [];
        handlers.set(event, fn ? list.filter((h) => h !== fn) : []);
        return socket;
      },
      emit(event, ...args) {
        const ack = args.length > 0 && typeof args[args.length - 1] === "function" ? args.pop() : null;
        if (!connected) return false;
        let id = "";
        if (ack) {
          id = String(nextAckId++);
          acks.set(Number(id), ack);
        }
        return sendRaw(EIO.MESSAGE + SIO.EVENT + id + JSON.stringify([event, ...args]));
      },
      close() {
        closedByPage = true;
        clearTimeout(retryTimer);
        if (ws && connected) sendRaw(EIO.MESSAGE + SIO.DISCONNECT);
        drop("io client disconnect");
      },
    };

    function sendRaw(text) {
      if (!ws || ws.readyState !== WebSocket.OPEN) return false;
      ws.send(text);
      return true;
    }

    function armDeadTimer(ms) {
      clearTimeout(deadTimer);
      deadTimer = setTimeout(() => drop("ping timeout"), ms);
    }

    function open() {
      retryTimer = null;
      let current;
      try {
        current = new WebSocket(websocketUrl(url, opts.path));
      } catch (err) {
        scheduleReconnect("transport error");
        return;
      }
      ws = current;
      armDeadTimer(opts.connectTimeoutMs);
      current.onmessage = (ev) => {
        if (ws === current && typeof ev.data === "string") onEngineIoPacket(ev.data);
      };
      current.onclose = () => {
        if (ws === current) drop("transport close");
      };
      current.onerror = () => {
        if (ws === current) drop("transport error");
      };
    }

    function onEngineIoPacket(text) {
      const kind = text.charAt(0);
      if (kind === EIO.OPEN) {
        const handshake = JSON.parse(text.slice(1));
        heartbeatMs = handshake.pingInterval + handshake.pingTimeout;
        armDeadTimer(heartbeatMs);
        const auth = pid !== null && lastOffset !== null ? JSON.stringify({ pid, offset: lastOffset }) : "";
        sendRaw(EIO.MESSAGE + SIO.CONNECT + auth);
      } else if (kind === EIO.PING) {
        armDeadTimer(heartbeatMs); // the next ping is due within pingInterval, plus pingTimeout of grace
        sendRaw(EIO.PONG);
      } else if (kind === EIO.CLOSE) {
        drop("transport close");
      } else if (kind === EIO.MESSAGE) {
        let packet;
        try {
          packet = decodeSocketIo(text.slice(1));
        } catch (err) {
          drop("parse error"); // a garbled stream cannot be trusted: start over
          return;
        }
        if (packet.nsp === "/") onSocketIoPacket(packet);
      }
    }

    function onSocketIoPacket(packet) {
      if (packet.type === SIO.CONNECT) {
        const data = packet.data || {};
        const reconnected = everConnected;
        const recovered = pid !== null && data.pid === pid;
        connected = true;
        everConnected = true;
        attempt = 0;
        socket.id = data.sid || null;
        pid = typeof data.pid === "string" ? data.pid : null;
        if (!recovered) lastOffset = null;
        if (opts.onOpen) opts.onOpen({ sid: socket.id, reconnected, recovered });
      } else if (packet.type === SIO.EVENT && Array.isArray(packet.data)) {
        const last = packet.data[packet.data.length - 1];
        if (pid !== null && packet.id === null && packet.data.length > 1 && typeof last === "string") {
          lastOffset = last;
        }
        dispatch(packet.data[0], packet.data.slice(1), packet.id);
      } else if (packet.type === SIO.ACK && packet.id !== null) {
        const ack = acks.get(packet.id);
        acks.delete(packet.id);
        if (ack) ack(...(Array.isArray(packet.data) ? packet.data : []));
      } else if (packet.type === SIO.DISCONNECT) {
        drop("io server disconnect");
      } else if (packet.type === SIO.CONNECT_ERROR) {
        const message = packet.data && packet.data.message ? packet.data.message : "connection refused";
        dispatch("connect_error", [{ message }], null);
        drop("connect error");
      }
    }

    function dispatch(event, args, id) {
      const list = handlers.get(event) || [];
      if (id !== null) {
        // The server asked for an ack: answer once, with what the first handler returns (if any).
        const result = list.length > 0 ? list[0](...args) : undefined;
        sendRaw(EIO.MESSAGE + SIO.ACK + id + JSON.stringify(result === undefined ? [] : [result]));
        list.slice(1).forEach((fn) => fn(...args));
        return;
      }
      list.forEach((fn) => fn(...args));
    }

    /** Forget the current connection (if any), tell the page once, and plan the next attempt. */
    function drop(reason) {
      clearTimeout(deadTimer);
      const old = ws;
      const wasConnected = connected;
      ws = null;
      connected = false;
      heartbeatMs = 0;
      socket.id = null;
      acks.clear();
      if (old) {
        old.onmessage = old.onclose = old.onerror = null;
        if (old.readyState === WebSocket.OPEN || old.readyState === WebSocket.CONNECTING) old.close();
      }
      const willReconnect = opts.reconnect && !closedByPage;
      if (wasConnected && opts.onClose) opts.onClose({ reason, willReconnect });
      if (willReconnect) scheduleReconnect(reason);
    }

    function scheduleReconnect(reason) {
      if (retryTimer !== null || closedByPage) return;
      const delay = backoffDelay(attempt, opts);
      attempt += 1;
      if (opts.onRetry) opts.onRetry({ attempt, delay, reason });
      retryTimer = setTimeout(open, delay);
    }

    open();
    return socket;
  }

  global.EioClient = { connect, websocketUrl, decodeSocketIo, backoffDelay };
})(window);
