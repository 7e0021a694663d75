/*
 * chat.js: the seed's chat page (the classic Socket.IO chat demo) on our own client, eio-client.js.
 *
 * Login ("What's your nickname?") -> `add user`; the chat page logs messages, joins/leaves, the
 * participant count and "<name> is typing". User text is only ever written with textContent.
 * After a reconnect the page sends `add user` again (unless the server recovered the session: it then
 * kept the name and replays what was missed), then the messages typed while offline and those whose
 * ack never came (at least once: each message keeps its id, and the server never sends one id twice).
 * A refusal marked `retry` (the server stored nothing, e.g. Redis was unreachable) is sent again after a
 * backoff, `add user` included; any other refusal is shown next to the message it concerns.
 * Closing the page says goodbye (Socket.IO disconnect), so the others see "left" at once.
 */
(function () {
  "use strict";

  const TYPING_TIMER_LENGTH = 400; // ms without input before `stop typing`
  const COLORS = [
    "#e21400", "#91580f", "#f8a700", "#f78b00",
    "#58dc00", "#287b00", "#a8f07a", "#4ae8c4",
    "#3b88eb", "#3824aa", "#a700ff", "#d300e7",
  ];

  const $ = (id) => document.getElementById(id);
  const loginPage = $("login-page");
  const chatPage = $("chat-page");
  const usernameInput = $("username-input");
  const messageInput = $("message-input");
  const messages = $("messages");
  const participants = $("participants");
  const connection = $("connection");
  const loginNotice = $("login-notice");

  let username = null; // accepted by the server
  let pendingName = null; // asked for, not yet accepted
  let typing = false;
  let lastTypingTime = 0;
  let joined = false; // `add user` accepted (or the session recovered) on the current connection
  let outbox = []; // messages typed while not joined, sent after the next accepted `add user`
  let inFlight = []; // messages sent whose ack has not come yet
  let retryTimer = null; // while set, a refused message waits to be sent again: later ones wait behind it
  let sequence = 0; // the order the user typed the messages in
  const RETRY_MIN_MS = 500;
  const RETRY_MAX_MS = 5000;

  /** The classic demo's colour: a string hash of the name into a fixed palette. */
  function usernameColor(name) {
    let hash = 7;
    for (let i = 0; i < name.length; i++) {
      hash = name.charCodeAt(i) + (hash << 5) - hash;
    }
    return COLORS[Math.abs(hash % COLORS.length)];
  }

  function participantsText(numUsers) {
    return numUsers === 1 ? "there's 1 participant" : `there are ${numUsers} participants`;
  }

  function scrollToEnd() {
    messages.scrollTop = messages.scrollHeight;
  }

  function log(text, className) {
    const li = document.createElement("li");
    li.className = className ? `log ${className}` : "log";
    li.textContent = text;
    messages.appendChild(li);
    scrollToEnd();
    return li;
  }

  function notice(text) {
    if (username === null) loginNotice.textContent = text;
    else log(text, "error");
  }

  function showParticipants(numUsers) {
    const text = participantsText(numUsers);
    participants.textContent = text;
    log(text);
  }

  function chatLine(name, body, isTyping) {
    const li = document.createElement("li");
    li.className = isTyping ? "message typing" : "message";
    li.dataset.username = name;
    const who = document.createElement("span");
    who.className = "username";
    who.style.color = usernameColor(name);
    who.textContent = name;
    const text = document.createElement("span");
    text.className = "messageBody";
    text.textContent = body;
    li.append(who, text);
    return li;
  }

  function addChatMessage(name, body) {
    removeTyping(name);
    const li = chatLine(name, body, false);
    messages.appendChild(li);
    scrollToEnd();
    return li;
  }

  /** A message the server refused for good: say so on its own line. */
  function markNotSent(item, error) {
    if (!item.line) return;
    item.line.classList.add("not-sent");
    const why = document.createElement("span");
    why.className = "not-sent-reason";
    why.textContent = `not sent: ${error}`;
    item.line.appendChild(why);
  }

  function retryDelay(attempt) {
    const ceiling = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** attempt);
    return ceiling / 2 + Math.random() * (ceiling / 2);
  }

  function typingLines(name) {
    return Array.from(messages.querySelectorAll("li.typing")).filter((li) => li.dataset.username === name);
  }

  function addTyping(name) {
    if (typingLines(name).length > 0) return;
    messages.appendChild(chatLine(name, "is typing", true));
    scrollToEnd();
  }

  function removeTyping(name) {
    typingLines(name).forEach((li) => li.remove());
  }

  function removeAllTyping() {
    messages.querySelectorAll("li.typing").forEach((li) => li.remove());
  }

  function ackError(ack) {
    if (ack && ack.ok === false) notice(`error: ${ack.error}`);
  }

  /* ---- the connection ---- */

  const socket = EioClient.connect(location.origin, {
    onOpen(info) {
      connection.textContent = "";
      if (info.reconnected && username !== null) log("reconnected");
      if (info.recovered && username !== null) {
        joined = true; // the server kept our name
        flushOutbox();
        return;
      }
      const name = username !== null ? username : pendingName;
      if (name !== null) join(name);
    },
    onClose() {
      joined = false;
      inFlight.forEach(queueInOrder);
      inFlight = [];
      typing = false;
      removeAllTyping();
      if (username !== null) log("you have been disconnected");
      connection.textContent = "reconnecting…";
    },
  });

  function join(name, attempt = 0) {
    pendingName = name;
    if (!socket.connected) {
      loginNotice.textContent = "connecting…";
      return;
    }
    socket.emit("add user", name, (ack) => {
      if (ack && ack.ok !== true && ack.retry === true) {
        notice(`${ack.error} (retrying)`);
        setTimeout(() => {
          if (socket.connected && !joined && pendingName === name) join(name, attempt + 1);
        }, retryDelay(attempt));
        return; // onOpen joins again if the connection drops meanwhile
      }
      if (!ack || ack.ok !== true) {
        pendingName = null;
        if (username !== null) {
          // a re-login refused for good (the name was taken meanwhile): back to the login page
          username = null;
          chatPage.hidden = true;
          loginPage.hidden = false;
        }
        ackError(ack || { ok: false, error: "the server refused the name" });
        return;
      }
      const first = username === null;
      username = name;
      pendingName = null;
      joined = true;
      if (first) showChat();
      else loginNotice.textContent = "";
      flushOutbox();
    });
  }

  function flushOutbox() {
    const queued = outbox;
    outbox = [];
    queued.forEach(sendMessage);
  }

  /** Keep the outbox in the order the messages were typed. */
  function queueInOrder(item) {
    const at = outbox.findIndex((other) => other.seq > item.seq);
    if (at === -1) outbox.push(item);
    else outbox.splice(at, 0, item);
  }

  function showChat() {
    loginNotice.textContent = "";
    loginPage.hidden = true;
    chatPage.hidden = false;
    messageInput.focus();
  }

  // Each message gets an id once, kept across resends: the server never broadcasts one id twice.
  function newId() {
    const bytes = new Uint8Array(12);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function sendMessage(item) {
    if (!socket.connected || !joined || retryTimer !== null) {
      queueInOrder(item);
      return;
    }
    inFlight.push(item);
    socket.emit("new message", item.text, { id: item.id }, (ack) => {
      const i = inFlight.indexOf(item);
      if (i === -1) return; // the connection dropped meanwhile: the item is back in the outbox
      inFlight.splice(i, 1);
      if (item.line) item.line.classList.toggle("retrying", Boolean(ack && ack.retry === true));
      if (ack && ack.ok === false && ack.retry === true) {
        item.attempt = (item.attempt || 0) + 1;
        queueInOrder(item); // same id: never sent twice; what was typed later waits behind it
        if (retryTimer === null) {
          retryTimer = setTimeout(() => {
            retryTimer = null;
            flushOutbox();
          }, retryDelay(item.attempt));
        }
      } else if (ack && ack.ok === false) {
        markNotSent(item, ack.error);
      }
    });
  }

  /* ---- server events ---- */

  socket.on("login", (data) => {
    if (username === null) log("Welcome to fargate-chat");
    showParticipants(data.numUsers);
  });
  socket.on("new message", (data) => addChatMessage(data.username, data.message));
  socket.on("user joined", (data) => {
    log(`${data.username} joined`);
    showParticipants(data.numUsers);
  });
  socket.on("user left", (data) => {
    log(`${data.username} left`);
    removeTyping(data.username);
    showParticipants(data.numUsers);
  });
  socket.on("typing", (data) => addTyping(data.username));
  socket.on("stop typing", (data) => removeTyping(data.username));
  socket.on("error", (data) => {
    if (data && data.retry === true) return; // the page sends it again by itself (see the acks above)
    const message = data && data.message ? data.message : String(data);
    notice(data && data.event ? `error (${data.event}): ${message}` : `error: ${message}`);
  });
  socket.on("connect_error", (data) => {
    connection.textContent = `cannot connect: ${data.message}`;
  });

  /* ---- the user's input ---- */

  $("login-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const name = usernameInput.value.trim();
    if (name !== "") join(name);
  });

  $("message-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const text = messageInput.value;
    if (text.trim() === "" || username === null) return;
    messageInput.value = "";
    const line = addChatMessage(username, text);
    if (typing && socket.connected) socket.emit("stop typing");
    typing = false;
    sendMessage({ text, id: newId(), line, seq: sequence++ });
  });

  messageInput.addEventListener("input", () => {
    if (!socket.connected || username === null) return;
    if (!typing) {
      typing = true;
      socket.emit("typing");
    }
    lastTypingTime = Date.now();
    setTimeout(() => {
      if (Date.now() - lastTypingTime >= TYPING_TIMER_LENGTH && typing) {
        if (socket.connected) socket.emit("stop typing");
        typing = false;
      }
    }, TYPING_TIMER_LENGTH);
  });

  // Leaving the page is a logout: say goodbye so the others see "left" now, not after a grace period.
  window.addEventListener("pagehide", () => socket.close());
  window.addEventListener("pageshow", (ev) => {
    if (ev.persisted) location.reload(); // back from the back/forward cache: start a fresh connection
  });

  // Exposed for the browser test and for debugging from the console.
  window.chat = { socket, usernameColor, participantsText };
})();
