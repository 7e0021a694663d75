// The reference the project is measured against: the seed's chat on Node's socket.io 4 with the Redis adapter.
//
// The seed protocol, as chat/events.py serves it without its additions (acks, recovery, limits):
//   client -> server  `add user` (name), `new message` (text), `typing`, `stop typing`
//   server -> client  `login` {numUsers} to the joiner; `user joined` / `user left` {username, numUsers} and
//                     `new message` {username, message} / `typing` / `stop typing` {username} to all but the sender
// Presence is the seed's: one Redis hash, socket id -> {username, seen (ms)}, written at login and on every
// heartbeat, counted as the entries seen within PING_TIMEOUT; stale entries are deleted when counted.
// Broadcasts go through @socket.io/redis-adapter (Redis pub/sub), so several workers form one room.
//
// Environment (the names `python -m chat` reads): PORT (3000), HOST (127.0.0.1), REDIS_ENDPOINT (127.0.0.1),
// REDIS_PORT (6379), PING_INTERVAL (seconds, 4), PING_TIMEOUT (seconds, 8). Prints one line once listening.
import { createServer } from "node:http";
import { createAdapter } from "@socket.io/redis-adapter";
import { createClient } from "redis";
import { Server } from "socket.io";

const env = process.env;
const port = Number(env.PORT ?? 3000);
const host = env.HOST ?? "127.0.0.1";
const pingInterval = Number(env.PING_INTERVAL ?? 4) * 1000;
const presenceTtl = Number(env.PING_TIMEOUT ?? 8) * 1000;
const PRESENCE = "presence";

const redis = createClient({ socket: { host: env.REDIS_ENDPOINT ?? "127.0.0.1", port: Number(env.REDIS_PORT ?? 6379) } });
const publisher = redis.duplicate();
const subscriber = redis.duplicate();
for (const client of [redis, publisher, subscriber]) client.on("error", (err) => console.error(`redis: ${err.message}`));

function seen(id, username) {
  redis.hSet(PRESENCE, id, JSON.stringify({ username, seen: Date.now() })).catch((err) => console.error(`presence: ${err}`));
}

function gone(id) {
  redis.hDel(PRESENCE, id).catch((err) => console.error(`presence: ${err}`));
}

async function numUsers() {
  const entries = await redis.hGetAll(PRESENCE);
  const oldest = Date.now() - presenceTtl;
  let count = 0;
  for (const [id, value] of Object.entries(entries)) {
    if (JSON.parse(value).seen >= oldest) count += 1;
    else gone(id);
  }
  return count;
}

function serve(socket) {
  let username = null;
  socket.on("add user", async (name) => {
    if (username !== null) return;
    username = String(name);
    seen(socket.id, username);
    const count = await numUsers();
    socket.emit("login", { numUsers: count });
    socket.broadcast.emit("user joined", { username, numUsers: count });
  });
  socket.on("new message", (message) => {
    socket.broadcast.emit("new message", { username, message });
  });
  socket.on("typing", () => socket.broadcast.emit("typing", { username }));
  socket.on("stop typing", () => socket.broadcast.emit("stop typing", { username }));
  socket.conn.on("heartbeat", () => {
    if (username !== null) seen(socket.id, username);
  });
  socket.on("disconnect", async () => {
    if (username === null) return;
    gone(socket.id);
    const count = await numUsers();
    socket.broadcast.emit("user left", { username, numUsers: count });
  });
}

await Promise.all([redis.connect(), publisher.connect(), subscriber.connect()]);
const http = createServer((request, response) => {
  response.writeHead(200, { "content-type": "text/plain" });
  response.end("node reference chat\n");
});
const io = new Server(http, { pingInterval, adapter: createAdapter(publisher, subscriber) });
io.on("connection", serve);
for (const signal of ["SIGTERM", "SIGINT"]) process.on(signal, () => process.exit(0));
http.listen(port, host, () => console.error(`node reference chat listening on http://${host}:${http.address().port}`));
