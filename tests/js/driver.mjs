// Drives the official Socket.IO JavaScript client for tests/chat/test_official_client.py.
//
// Commands arrive on stdin, one JSON object a line; everything that happens leaves on stdout, one JSON object a
// line ({"event": ...}). Nothing here decides whether a test passes: the Python test asserts on the lines.
//
//   {"cmd": "connect", "url": "...", "options": {...}}  io(url, {withCredentials: true, ...options})
//   {"cmd": "login", "name": "..."}                      emitWithAck("add user", name)  -> {"event": "ack"}
//   {"cmd": "say", "text": "...", "id": "..."}            emitWithAck("new message", text[, {id}]) -> {"event": "ack"}
//   {"cmd": "state"}                                      -> {"event": "state", ...}
//   {"cmd": "close"}                                      disconnect, then exit
//
// `withCredentials: true` gives each engine connection a cookie jar (Node has none of its own): the load
// balancer's AWSALB cookie from the handshake goes with every later poll and with the WebSocket upgrade, which is
// what keeps them on the same target.
import { createRequire } from "node:module";
import { createInterface } from "node:readline";
import { io } from "socket.io-client";

const require = createRequire(import.meta.url);
const CHAT_EVENTS = ["login", "new message", "user joined", "user left", "typing", "stop typing", "error"];

let socket = null;

function out(event, fields = {}) {
  process.stdout.write(JSON.stringify({ event, ...fields }) + "\n");
}

function cookieNames() {
  // the engine's cookie jar is not public API; the names only serve as evidence in the test's messages
  const jar = socket?.io?.engine?._cookieJar;
  return jar ? Array.from(jar.cookies, ([name]) => name) : [];
}

function state() {
  const engine = socket?.io?.engine;
  return {
    connected: Boolean(socket?.connected),
    recovered: Boolean(socket?.recovered),
    id: socket?.id ?? null,
    engineId: engine?.id ?? null,
    transport: engine?.transport?.name ?? null,
    cookies: cookieNames(),
  };
}

function watchEngine(manager) {
  // the manager makes a new engine (a new Engine.IO session) for every (re)connection
  manager.on("open", () => {
    const engine = manager.engine;
    out("open", { engineId: engine.id, transport: engine.transport.name, cookies: cookieNames() });
    engine.on("upgrade", (transport) => out("upgrade", { engineId: engine.id, transport: transport.name }));
  });
  manager.on("reconnect_attempt", (attempt) => out("reconnect_attempt", { attempt }));
  manager.on("error", (err) => out("manager_error", { message: String(err?.message ?? err) }));
}

function connect(url, options) {
  socket = io(url, { withCredentials: true, ...options });
  watchEngine(socket.io);
  socket.on("connect", () => out("connect", state()));
  socket.on("disconnect", (reason) => out("disconnect", { reason }));
  socket.on("connect_error", (err) => out("connect_error", { message: String(err?.message ?? err) }));
  for (const name of CHAT_EVENTS) {
    socket.on(name, (...args) => {
      // a broadcast's last argument is its stream offset (connection-state recovery)
      const offset = args.length > 1 && typeof args[args.length - 1] === "string" ? args.pop() : null;
      out("chat", { name, data: args[0] ?? null, offset });
    });
  }
}

async function ack(ref, event, ...args) {
  try {
    out("ack", { ref, response: await socket.emitWithAck(event, ...args) });
  } catch (err) {
    out("ack", { ref, error: String(err?.message ?? err) });
  }
}

function handle(command) {
  switch (command.cmd) {
    case "connect":
      return connect(command.url, command.options ?? {});
    case "login":
      return ack(command.ref ?? command.name, "add user", command.name);
    case "say":
      return command.id === undefined
        ? ack(command.ref ?? command.text, "new message", command.text)
        : ack(command.ref ?? command.text, "new message", command.text, { id: command.id });
    case "state":
      return out("state", state());
    case "close":
      socket?.disconnect();
      out("closed", {});
      return process.exit(0);
    default:
      return out("bad_command", { command });
  }
}

createInterface({ input: process.stdin }).on("line", (line) => {
  if (!line.trim()) return;
  try {
    handle(JSON.parse(line));
  } catch (err) {
    out("bad_command", { line, message: String(err?.message ?? err) });
  }
}).on("close", () => process.exit(0));

out("ready", { client: require("socket.io-client/package.json").version, node: process.versions.node });
