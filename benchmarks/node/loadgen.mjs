// The load generator of benchmarks/compare.py: many official socket.io-client 4 clients in one Node process (so a
// message's send and receive times come from one clock), speaking the seed protocol to any chat server.
//
//   node loadgen.mjs fanout  --url URL [--clients 200] [--senders 10] [--rate 10] [--warmup 3] [--duration 15] ...
//   node loadgen.mjs connect --url URL [--clients 2000] [--concurrency 200] [--no-login] [--hold 2] ...
//
// fanout:  every client connects and logs in (`add user`), the join storm settles, then `--senders` of them send
//          `--rate` `new message` each per second for warmup + duration seconds. Each message carries its send time;
//          every other client must receive it. Reports latency percentiles and loss of the messages sent in the
//          measured window, and the deliveries received in it.
// connect: a probe logs in, then `--clients` clients connect (`--concurrency` at a time; 0 = all at once) and log in
//          (unless --no-login), then sit idle; reports connect/login time percentiles; a second probe logs in and
//          reports the numUsers it was told.
//
// stdout carries one JSON object a line: {"mark": NAME, "at": ms} when the caller should sample the server
// (fanout: "measure-start", "measure-end"; connect: "baseline", "idle"), and last {"result": {...}}. After a
// mark this process keeps going: the caller samples at once (connect waits --mark-pause seconds after each).
// Exit 0: done; 1: bad arguments or the run failed (the result says why, if it got that far).
import { performance } from "node:perf_hooks";
import { io } from "socket.io-client";

const DEFAULTS = {
  url: "", clients: 200, senders: 10, rate: 10, warmup: 3, duration: 15, drain: 3, concurrency: 100,
  login: true, hold: 2, settle: 2, "mark-pause": 1, transport: "websocket", "connect-timeout": 60,
};

function parse(argv) {
  const [mode, ...rest] = argv;
  if (mode !== "fanout" && mode !== "connect") throw new Error("first argument: fanout or connect");
  const options = { ...DEFAULTS, mode };
  for (let i = 0; i < rest.length; i += 1) {
    const flag = rest[i];
    if (flag === "--no-login") { options.login = false; continue; }
    const name = flag.replace(/^--/, "");
    if (!flag.startsWith("--") || !(name in DEFAULTS) || name === "login") throw new Error(`unknown flag ${flag}`);
    const value = rest[i += 1];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    options[name] = typeof DEFAULTS[name] === "number" ? Number(value) : value;
    if (Number.isNaN(options[name])) throw new Error(`${flag}: not a number: ${value}`);
  }
  if (!options.url) throw new Error("--url is required");
  if (!["websocket", "polling"].includes(options.transport)) throw new Error("--transport: websocket or polling");
  if (mode === "fanout" && !(options.senders >= 1 && options.senders <= options.clients && options.rate > 0)) {
    throw new Error("fanout needs 1 <= senders <= clients and rate > 0");
  }
  return options;
}

const now = () => performance.now();
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const emit = (object) => process.stdout.write(`${JSON.stringify(object)}\n`);
const mark = (name, extra = {}) => emit({ mark: name, at: Date.now(), ...extra });

function percentiles(values) {
  if (values.length === 0) return { n: 0, p50: null, p90: null, p99: null, max: null };
  const sorted = Float64Array.from(values).sort();
  const at = (q) => Math.round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] * 100) / 100;
  return { n: sorted.length, p50: at(0.5), p90: at(0.9), p99: at(0.99), max: at(1) };
}

class Client {
  constructor(options, name) {
    this.name = name;
    this.started = now();
    this.connectMs = null;
    this.loginMs = null;
    this.numUsers = null;
    this.dropped = null;
    this.socket = io(options.url, {
      forceNew: true,
      reconnection: false,
      transports: options.transport === "websocket" ? ["websocket"] : ["polling", "websocket"],
      timeout: options["connect-timeout"] * 1000,
    });
    this.socket.on("disconnect", (reason) => {
      if (!this.closing) this.dropped = reason;
    });
  }

  // resolves once connected and, with login, once `login` arrived; rejects on a connect error or timeout
  ready(login, timeoutMs) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.name}: no login in ${timeoutMs} ms`)), timeoutMs);
      const done = () => { clearTimeout(timer); resolve(this); };
      this.socket.once("connect_error", (err) => { clearTimeout(timer); reject(new Error(`${this.name}: ${err.message}`)); });
      this.socket.once("login", (data) => { this.loginMs = now() - this.started; this.numUsers = data.numUsers; done(); });
      this.socket.once("connect", () => {
        this.connectMs = now() - this.started;
        if (login) this.socket.emit("add user", this.name);
        else done();
      });
    });
  }

  close() {
    this.closing = true;
    this.socket.disconnect();
  }
}

// opens `count` clients, `concurrency` at a time (0: all at once); resolves to the clients and the failures
async function open(options, count, prefix, login) {
  const clients = [];
  const failures = [];
  const limit = options.concurrency > 0 ? options.concurrency : count;
  let next = 0;
  async function lane() {
    while (next < count) {
      const client = new Client(options, `${prefix}${next++}`);
      clients.push(client);
      try {
        await client.ready(login, options["connect-timeout"] * 1000);
      } catch (err) {
        failures.push(String(err.message));
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, count) }, lane));
  return { clients, failures };
}

async function probe(options, name) {
  const [client] = (await open({ ...options, concurrency: 1 }, 1, name, true)).clients;
  return client;
}

// waits until no client received anything for `quietMs` (the join storm has been delivered), at most `maxMs`
async function quiet(state, quietMs, maxMs) {
  const start = now();
  while (now() - state.lastEvent < quietMs && now() - start < maxMs) await sleep(100);
}

async function fanout(options) {
  const state = { lastEvent: now() };
  const opened = await open(options, options.clients, "user", true);
  const { clients, failures } = opened;
  const loginMs = clients.map((c) => c.loginMs).filter((ms) => ms !== null);
  const window = { start: Infinity, end: Infinity };
  const latency = [];
  let measuredReceived = 0;
  let inWindow = 0;
  for (const client of clients) {
    client.socket.onAny(() => { state.lastEvent = now(); });
    client.socket.on("new message", (data) => {
      const at = now();
      state.lastEvent = at;
      const sentAt = Number(String(data.message).split(" ")[1]);
      if (at >= window.start && at < window.end) inWindow += 1;
      if (sentAt >= window.start && sentAt < window.end) {
        measuredReceived += 1;
        latency.push(at - sentAt);
      }
    });
  }
  await quiet(state, 1000, 120000);
  await sleep(options.settle * 1000);

  const senders = clients.slice(0, options.senders);
  const interval = 1000 / options.rate;
  const begin = now() + 50;
  const stop = begin + (options.warmup + options.duration) * 1000;
  window.start = begin + options.warmup * 1000;
  window.end = stop;
  let sent = 0;
  let measuredSent = 0;
  let maxLag = 0;
  const timers = senders.map((sender, index) => new Promise((resolve) => {
    let k = 0;
    const tick = () => {
      const due = begin + (index / senders.length) * interval + k * interval;
      if (due >= stop) { resolve(); return; }
      const at = now();
      if (at >= due) {
        maxLag = Math.max(maxLag, at - due);
        sender.socket.emit("new message", `${sender.name} ${at} ${k}`);
        sent += 1;
        if (at >= window.start && at < window.end) measuredSent += 1;
        k += 1;
      }
      setTimeout(tick, Math.max(0, begin + (index / senders.length) * interval + k * interval - now()));
    };
    tick();
  }));
  setTimeout(() => mark("measure-start"), Math.max(0, window.start - now()));
  const ended = new Promise((resolve) => setTimeout(() => { mark("measure-end"); resolve(); }, Math.max(0, stop - now())));
  await Promise.all([...timers, ended]);
  await sleep(options.drain * 1000);
  const expected = measuredSent * (clients.length - 1);
  const dropped = clients.filter((c) => c.dropped !== null).length;
  for (const client of clients) client.close();
  const windowS = (window.end - window.start) / 1000;
  return {
    clients: clients.length, logged_in: loginMs.length, failures: failures.slice(0, 5), failed: failures.length,
    senders: senders.length, rate: options.rate, sent, measured_sent: measuredSent, expected, received: measuredReceived,
    loss_pct: expected ? Math.round((1 - measuredReceived / expected) * 10000) / 100 : null,
    deliveries_in_window: inWindow, window_s: windowS, deliveries_per_s: Math.round(inWindow / windowS),
    latency_ms: percentiles(latency), login_ms: percentiles(loginMs), send_lag_max_ms: Math.round(maxLag),
    dropped, ok: failures.length === 0 && dropped === 0 && expected > 0 && measuredReceived >= expected * 0.99,
  };
}

async function connect(options) {
  const first = await probe(options, "probe-a");
  mark("baseline");
  await sleep(options["mark-pause"] * 1000);
  const started = now();
  const { clients, failures } = await open(options, options.clients, "idle", options.login);
  const elapsed = (now() - started) / 1000;
  await sleep(options.settle * 1000);
  const second = options.login ? await probe(options, "probe-b") : null;
  const connected = clients.filter((c) => c.connectMs !== null && c.dropped === null).length;
  mark("idle", { connected });
  await sleep(options["mark-pause"] * 1000 + options.hold * 1000);
  const dropped = clients.filter((c) => c.dropped !== null).length;
  const loggedIn = clients.filter((c) => c.loginMs !== null).length;
  for (const client of [first, second, ...clients]) client?.close();
  const expectedUsers = options.login ? clients.length + 2 : null;
  return {
    clients: clients.length, connected, logged_in: loggedIn, failed: failures.length, failures: failures.slice(0, 5),
    dropped, concurrency: options.concurrency, login: options.login, elapsed_s: Math.round(elapsed * 100) / 100,
    connects_per_s: Math.round(clients.length / elapsed), connect_ms: percentiles(clients.map((c) => c.connectMs).filter((ms) => ms !== null)),
    login_ms: percentiles(clients.map((c) => c.loginMs).filter((ms) => ms !== null)),
    num_users: second?.numUsers ?? null, expected_users: expectedUsers,
    ok: failures.length === 0 && dropped === 0 && (!options.login || second?.numUsers === expectedUsers),
  };
}

let options;
try {
  options = parse(process.argv.slice(2));
} catch (err) {
  console.error(`loadgen: ${err.message}`);
  process.exit(1);
}
const result = await (options.mode === "fanout" ? fanout(options) : connect(options));
emit({ result: { mode: options.mode, transport: options.transport, ...result } });
await sleep(200);
process.exit(result.ok ? 0 : 1);
