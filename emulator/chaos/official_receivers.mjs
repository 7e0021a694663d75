// Receivers of `chat-emulator chaos` that are the official Socket.IO JavaScript client (socket.io-client).
//
// Started by emulator/chaos/official.py: `node official_receivers.mjs URL COUNT PREFIX`, with CHAT_NODE_MODULES
// naming the node_modules that holds socket.io-client. Each receiver connects with the client's defaults
// (reconnection with its backoff, connection-state recovery) over WebSocket, logs in as PREFIX-jN, and reports on
// stdout, one JSON object a line:
//   {"c": N, "e": "session", "recovered": bool, "sticky": "AWSALB value" | null}
//   {"c": N, "e": "lost", "reason": "..."}
//   {"c": N, "e": "msg", "text": "..."}                 every `new message`
//   {"e": "ready", "client": version}
// Nothing here decides anything: the Python side keeps the ledger.
import { createRequire } from "node:module";
import path from "node:path";

const [url, countText, prefix] = process.argv.slice(2);
const modules = process.env.CHAT_NODE_MODULES;
const require = createRequire(path.join(modules, "noop.js"));
const { io } = require("socket.io-client");

function out(fields) {
  process.stdout.write(JSON.stringify(fields) + "\n");
}

function sticky(socket) {
  // the engine's cookie jar is not public API: the value only tells the report which task the client is on
  try {
    for (const [name, cookie] of socket.io.engine?._cookieJar?.cookies ?? []) {
      if (name === "AWSALB") return cookie.value;
    }
  } catch {
    // another client version: the report says n/a
  }
  return null;
}

async function login(c, socket, name) {
  for (let attempt = 1; attempt <= 5; attempt++) {
    let ack;
    try {
      ack = await socket.timeout(10000).emitWithAck("add user", name);
    } catch (err) {
      return; // no ack: the connection is gone or will be; the next connect logs in again
    }
    if (ack?.ok) {
      out({ c, e: "session", recovered: false, sticky: sticky(socket) });
      return;
    }
    if (String(ack?.error ?? "").includes("taken")) {
      name = `${prefix}-j${c}~${attempt}`; // the previous session holds the name until its presence expires
    } else if (!ack?.retry) {
      out({ c, e: "refused", error: String(ack?.error ?? "") });
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

function receiver(c) {
  const socket = io(url, { transports: ["websocket"], forceNew: true, withCredentials: true });
  let live = false;
  socket.on("connect", () => {
    live = true;
    if (socket.recovered) {
      out({ c, e: "session", recovered: true, sticky: sticky(socket) });
    } else {
      login(c, socket, `${prefix}-j${c}`);
    }
  });
  socket.on("disconnect", (reason) => {
    if (live) out({ c, e: "lost", reason });
    live = false;
  });
  socket.on("new message", (data) => {
    if (typeof data?.message === "string") out({ c, e: "msg", text: data.message });
  });
}

for (let c = 0; c < Number(countText); c++) receiver(c);
out({ e: "ready", client: require("socket.io-client/package.json").version });
process.stdin.on("close", () => process.exit(0)); // the parent went away: so do we
process.stdin.resume();
