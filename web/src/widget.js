// 话费客服 web chat widget. Embed with one script tag:
//
//   <script src="https://bot.example.com/webhooks/web/widget.js" data-title="话费客服"
//           data-color="#0a6ebd" data-greeting="您好，请问有什么可以帮您？" async></script>
//
// or load it with `data-manual` and call `window.BillingChat.init({server, title, ...})`.
//
// It talks to bot.channels.socketio: the server issues the session (id + signature, kept in
// localStorage), every message has a client id and waits in a queue (also in localStorage) until
// the server acknowledges it, so a dropped connection loses nothing and a resend is not processed
// twice. History comes back from the server after a reload or a reconnect.
//
// Message text is only ever set with textContent / text nodes; links are built as elements.

import { io } from "socket.io-client";
import css from "./widget.css";

const VERSION = "1.0.0";
const ACK_TIMEOUT_MS = 30000;
const RETRY_MS = 3000;
const MAX_CHARS = 2000;
const DEFAULTS = {
  server: "",
  path: "/socket.io",
  title: "话费客服",
  greeting: "您好，我是话费客服小助手，可以帮您查询余额、账单和扣费，设置提醒等。请问有什么可以帮您？",
  color: "",
  textColor: "",
  open: false,
  transports: ["websocket", "polling"],
};
const TEXT = {
  launcher: "在线客服",
  launcherLabel: "打开在线客服",
  launcherUnread: "打开在线客服（有新消息）",
  close: "关闭客服窗口",
  log: "聊天记录",
  inputLabel: "输入消息",
  placeholder: "请输入您的问题，按回车发送",
  send: "发送",
  sendLabel: "发送消息",
  replies: "快捷回复",
  botSays: "客服：",
  agentSays: (name) => `人工客服${name}：`,
  agentLabel: (name) => `人工客服 ${name}`,
  youSay: "我：",
  typing: "客服正在输入…",
  online: "在线",
  connecting: "连接中…",
  offline: "网络已断开，正在重新连接，您的消息会在恢复后发出。",
  pending: "发送中…",
  failed: "未能发送",
  sessionReplaced: "之前的会话已失效，已为您开始新的会话。",
};

const URL_PATTERN = /https?:\/\/[^\s<>"'\u3000-\u303f\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65]+/gi;

function makeStorage(prefix) {
  const memory = new Map();
  let local = null;
  try {
    local = window.localStorage;
    const probe = `${prefix}probe`;
    local.setItem(probe, "1");
    local.removeItem(probe);
  } catch (_) {
    local = null;
  }
  return {
    get(key, fallback) {
      let raw = null;
      try {
        raw = local ? local.getItem(prefix + key) : memory.get(key) ?? null;
      } catch (_) {
        raw = memory.get(key) ?? null;
      }
      if (raw === null) return fallback;
      try {
        return JSON.parse(raw);
      } catch (_) {
        return fallback;
      }
    },
    set(key, value) {
      const raw = JSON.stringify(value);
      memory.set(key, raw);
      try {
        if (local) local.setItem(prefix + key, raw);
      } catch (_) {
        /* full or blocked: the in-memory copy still serves this page */
      }
    },
    remove(key) {
      memory.delete(key);
      try {
        if (local) local.removeItem(prefix + key);
      } catch (_) {
        /* ignore */
      }
    },
  };
}

function newClientId() {
  const bytes = new Uint8Array(16);
  window.crypto.getRandomValues(bytes);
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function el(tag, className, attributes) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  for (const [name, value] of Object.entries(attributes || {})) node.setAttribute(name, value);
  return node;
}

/** Appends `text` to `parent` as text nodes, with http(s) links as <a> elements. */
export function appendRichText(parent, text) {
  let last = 0;
  for (const match of text.matchAll(URL_PATTERN)) {
    let candidate = match[0];
    const trailing = candidate.match(/[.,;:!?)\]}]+$/);
    if (trailing) candidate = candidate.slice(0, -trailing[0].length);
    let url = null;
    try {
      url = new URL(candidate);
    } catch (_) {
      url = null;
    }
    if (!url || (url.protocol !== "http:" && url.protocol !== "https:")) continue;
    if (match.index > last) parent.appendChild(document.createTextNode(text.slice(last, match.index)));
    const link = el("a", "", { href: url.href, target: "_blank", rel: "noopener noreferrer nofollow" });
    link.textContent = candidate;
    parent.appendChild(link);
    last = match.index + candidate.length;
  }
  if (last < text.length) parent.appendChild(document.createTextNode(text.slice(last)));
}

function pad(n) {
  return String(n).padStart(2, "0");
}

function formatTime(ms) {
  const when = new Date(ms);
  const now = new Date();
  const hm = `${pad(when.getHours())}:${pad(when.getMinutes())}`;
  if (when.toDateString() === now.toDateString()) return hm;
  return `${when.getMonth() + 1}月${when.getDate()}日 ${hm}`;
}

function validColor(value) {
  return typeof value === "string" && value !== "" && window.CSS && CSS.supports("color", value);
}

const CHAT_ICON =
  "M12 3C6.5 3 2 6.9 2 11.6c0 2.6 1.4 4.9 3.6 6.5L5 21.5l3.9-2.1c1 .3 2 .4 3.1.4 5.5 0 10-3.9 " +
  "10-8.6S17.5 3 12 3z";

class ChatWidget {
  constructor(config) {
    this.config = config;
    this.storage = makeStorage(`billingchat:v1:${config.server}:`);
    this.session = this.storage.get("session", null);
    this.queue = this.storage.get("queue", []);
    this.messages = [];
    this.socket = null;
    this.connected = false;
    this.sessionReady = false;
    this.historyLoading = false;
    this.dropped = false;
    this.inflight = null;
    this.inflightId = null;
    this.attempt = 0;
    this.retryTimer = null;
    this.notice = null;
    this.build();
    const stored = this.storage.get("open", null);
    if (stored === true || (stored === null && config.open)) this.open(false);
    if (this.session || this.queue.length) this.connect();
    this.render();
  }

  // --- DOM ---------------------------------------------------------------------------------

  build() {
    this.host = el("div", "", { id: "billing-chat", "data-version": VERSION });
    const root = this.host.attachShadow({ mode: "open" });
    const style = el("style");
    style.textContent = css;
    root.appendChild(style);
    if (validColor(this.config.color)) this.host.style.setProperty("--bc-primary", this.config.color);
    if (validColor(this.config.textColor)) this.host.style.setProperty("--bc-primary-text", this.config.textColor);

    this.launcher = el("button", "bc-launcher", {
      type: "button",
      "aria-label": TEXT.launcherLabel,
      "aria-expanded": "false",
      "aria-controls": "bc-panel",
    });
    const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    const path = document.createElementNS("http://www.w3.org/2000/svg", "path");
    path.setAttribute("d", CHAT_ICON);
    svg.appendChild(path);
    const launcherText = el("span");
    launcherText.textContent = TEXT.launcher;
    this.badge = el("span", "bc-badge", { "aria-hidden": "true" });
    this.badge.hidden = true;
    this.launcher.append(svg, launcherText, this.badge);

    this.panel = el("section", "bc-panel", {
      id: "bc-panel",
      role: "dialog",
      "aria-modal": "false",
      "aria-labelledby": "bc-title",
    });
    this.panel.hidden = true;
    const header = el("header", "bc-header");
    const title = el("h2", "bc-title", { id: "bc-title" });
    title.textContent = this.config.title;
    this.status = el("span", "bc-status");
    this.status.textContent = TEXT.connecting;
    const close = el("button", "bc-close", { type: "button", "aria-label": TEXT.close });
    close.textContent = "×";
    header.append(title, this.status, close);

    this.banner = el("div", "bc-banner", { role: "status" });
    this.banner.hidden = true;
    this.log = el("ol", "bc-log", { role: "log", "aria-label": TEXT.log, "aria-live": "off", tabindex: "0" });
    this.typing = el("div", "bc-typing", { "aria-hidden": "true" });
    for (let i = 0; i < 3; i += 1) this.typing.appendChild(el("span", "bc-dot"));
    this.typing.appendChild(document.createTextNode(TEXT.typing));
    this.typing.hidden = true;
    this.live = el("div", "bc-sr-only bc-live", { "aria-live": "polite", "aria-atomic": "false" });

    this.form = el("form", "bc-form");
    const label = el("label", "bc-sr-only", { for: "bc-input" });
    label.textContent = TEXT.inputLabel;
    this.input = el("textarea", "bc-input", {
      id: "bc-input",
      rows: "1",
      maxlength: String(MAX_CHARS),
      placeholder: TEXT.placeholder,
      enterkeyhint: "send",
    });
    const send = el("button", "bc-send", { type: "submit", "aria-label": TEXT.sendLabel });
    send.textContent = TEXT.send;
    this.form.append(label, this.input, send);
    this.panel.append(header, this.banner, this.log, this.typing, this.live, this.form);
    root.append(this.launcher, this.panel);

    this.launcher.addEventListener("click", () => (this.panel.hidden ? this.open(true) : this.close()));
    close.addEventListener("click", () => this.close());
    this.panel.addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        event.preventDefault();
        this.close();
      }
    });
    this.input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
        event.preventDefault();
        this.submit();
      }
    });
    this.input.addEventListener("input", () => this.autosize());
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    document.body.appendChild(this.host);
  }

  autosize() {
    this.input.style.height = "auto";
    this.input.style.height = `${Math.min(this.input.scrollHeight + 2, 120)}px`;
  }

  open(focus) {
    this.panel.hidden = false;
    this.launcher.setAttribute("aria-expanded", "true");
    this.badge.hidden = true;
    this.launcher.setAttribute("aria-label", TEXT.launcherLabel);
    this.storage.set("open", true);
    this.connect();
    this.scrollToEnd();
    if (focus !== false) this.input.focus();
  }

  close() {
    this.panel.hidden = true;
    this.launcher.setAttribute("aria-expanded", "false");
    this.storage.set("open", false);
    this.launcher.focus();
  }

  scrollToEnd() {
    this.log.scrollTop = this.log.scrollHeight;
  }

  announce(text, prefix = TEXT.botSays) {
    const line = el("p");
    line.textContent = prefix + text;
    this.live.appendChild(line);
    while (this.live.childNodes.length > 5) this.live.removeChild(this.live.firstChild);
  }

  renderMessage(message, isLast) {
    const item = el("li", `bc-msg bc-msg-${message.from}`);
    if (message.clientId) item.dataset.clientId = message.clientId;
    const bubble = el("div", "bc-bubble");
    const who = el("span", "bc-sr-only");
    who.textContent = message.from === "user" ? TEXT.youSay : message.agent ? TEXT.agentSays(message.agent) : TEXT.botSays;
    const text = el("span", "bc-text");
    appendRichText(text, message.text);
    if (message.agent) {
      item.classList.add("bc-msg-agent");
      const label = el("span", "bc-agent", { "aria-hidden": "true" });
      label.textContent = TEXT.agentLabel(message.agent);
      bubble.append(label);
    }
    bubble.append(who, text);
    const meta = el("div", "bc-meta");
    const time = el("time", "", { datetime: new Date(message.time).toISOString() });
    time.textContent = formatTime(message.time);
    meta.appendChild(time);
    if (message.state) {
      const state = el("span", `bc-state bc-state-${message.state}`);
      state.textContent = message.state === "failed" ? TEXT.failed : TEXT.pending;
      meta.appendChild(state);
    }
    item.append(bubble, meta);
    if (isLast && message.from === "bot" && message.quickReplies && message.quickReplies.length) {
      const replies = el("div", "bc-replies", { role: "group", "aria-label": TEXT.replies });
      for (const reply of message.quickReplies) {
        const button = el("button", "bc-reply", { type: "button" });
        button.textContent = reply.title;
        button.addEventListener("click", () => {
          for (const b of replies.querySelectorAll("button")) b.disabled = true;
          this.send(reply.payload, reply.title);
          this.input.focus();
        });
        replies.appendChild(button);
      }
      item.appendChild(replies);
    }
    return item;
  }

  render() {
    const pending = new Set(this.queue.map((q) => q.client_id));
    const shown = [];
    if (this.config.greeting) {
      const first = this.messages.length ? this.messages[0].time : Date.now();
      shown.push({ from: "bot", text: this.config.greeting, time: first });
    }
    for (const message of this.messages) {
      shown.push(pending.has(message.clientId) ? { ...message, state: "pending" } : message);
    }
    const listed = new Set(this.messages.map((m) => m.clientId).filter(Boolean));
    for (const queued of this.queue) {
      if (!listed.has(queued.client_id)) {
        const text = queued.display || queued.text;
        shown.push({ from: "user", text, time: queued.time, clientId: queued.client_id, state: "pending" });
      }
    }
    const fragment = document.createDocumentFragment();
    shown.forEach((message, index) => {
      fragment.appendChild(this.renderMessage(message, index === shown.length - 1));
    });
    if (this.notice) {
      const notice = el("li", "bc-msg bc-msg-notice", { role: "note" });
      notice.textContent = this.notice;
      fragment.appendChild(notice);
    }
    this.log.replaceChildren(fragment);
    this.updateStatus();
    this.scrollToEnd();
  }

  updateStatus() {
    this.status.textContent = this.connected && this.sessionReady ? TEXT.online : TEXT.connecting;
    this.typing.hidden = this.inflight === null;
    const offline = this.dropped && !this.connected;
    this.banner.hidden = !offline;
    if (offline && this.banner.textContent !== TEXT.offline) this.banner.textContent = TEXT.offline;
  }

  // --- messages ----------------------------------------------------------------------------

  submit() {
    const text = this.input.value.trim();
    if (!text) return;
    this.input.value = "";
    this.autosize();
    this.send(text, null);
  }

  send(text, display) {
    this.notice = null;
    const item = { client_id: newClientId(), text: text.slice(0, MAX_CHARS), display, time: Date.now() };
    this.queue.push(item);
    this.storage.set("queue", this.queue);
    this.messages.push({ from: "user", text: display || item.text, time: item.time, clientId: item.client_id });
    this.render();
    this.connect();
    this.flush();
  }

  receive(payload) {
    if (!payload || typeof payload !== "object") return;
    const text = typeof payload.text === "string" ? payload.text : "";
    const quickReplies = Array.isArray(payload.quick_replies)
      ? payload.quick_replies
          .filter((r) => r && typeof r.title === "string" && typeof r.payload === "string")
          .map((r) => ({ title: r.title, payload: r.payload }))
      : [];
    if (!text && !quickReplies.length) return;
    const agent = typeof payload.agent === "string" && payload.agent ? payload.agent.slice(0, 60) : undefined;
    // Replies belong to the message in flight: they go before messages still waiting to be sent.
    const waiting = new Set(this.queue.map((q) => q.client_id));
    waiting.delete(this.inflightId);
    let index = this.messages.findIndex((m) => m.from === "user" && waiting.has(m.clientId));
    if (index < 0) index = this.messages.length;
    this.messages.splice(index, 0, { from: "bot", text, time: Date.now(), quickReplies, agent });
    this.render();
    this.announce(text, agent ? TEXT.agentSays(agent) : TEXT.botSays);
    if (this.panel.hidden) {
      this.badge.hidden = false;
      this.launcher.setAttribute("aria-label", TEXT.launcherUnread);
    }
  }

  /** The server has the message (processed now or before): it leaves the queue. */
  settle(item, failed) {
    this.queue = this.queue.filter((q) => q.client_id !== item.client_id);
    this.storage.set("queue", this.queue);
    const shown = this.messages.find((m) => m.clientId === item.client_id);
    if (shown && failed) shown.state = "failed";
  }

  flush() {
    if (!this.connected || !this.sessionReady || this.inflight !== null || this.historyLoading) return;
    const item = this.queue[0];
    if (!item) {
      this.updateStatus();
      return;
    }
    const attempt = ++this.attempt;
    this.inflight = attempt;
    this.inflightId = item.client_id;
    this.updateStatus();
    const payload = { message: item.text, client_id: item.client_id, session_id: this.session.session_id };
    this.socket.timeout(ACK_TIMEOUT_MS).emit("user_uttered", payload, (error, ack) => {
      if (this.inflight !== attempt) return; // the connection dropped meanwhile: resent after reconnect
      this.inflight = null;
      this.inflightId = null;
      const status = !error && ack ? ack.status : "timeout";
      if (status === "ok" || status === "failed") {
        this.settle(item, false);
      } else if (status === "duplicate") {
        // Processed before (its replies may have gone while this page was away): show the server's record.
        this.settle(item, false);
        this.loadHistory();
      } else if (status === "invalid") {
        this.settle(item, true);
      } else if (status === "no_session") {
        this.sessionReady = false;
        this.socket.emit("session_request", this.session || {});
      } else {
        this.retryLater(); // timeout or unavailable: the same client id goes again, the server dedupes
      }
      this.render();
      this.flush();
    });
  }

  retryLater() {
    if (this.retryTimer) return;
    this.retryTimer = window.setTimeout(() => {
      this.retryTimer = null;
      this.flush();
    }, RETRY_MS);
  }

  // --- connection --------------------------------------------------------------------------

  connect() {
    if (this.socket) return;
    this.socket = io(this.config.server || undefined, {
      path: this.config.path,
      transports: this.config.transports,
      tryAllTransports: true,
      reconnectionDelay: 500,
      reconnectionDelayMax: 5000,
    });
    this.socket.on("connect", () => {
      this.socket.sendBuffer = []; // our queue resends; nothing buffered while offline goes twice
      this.connected = true;
      this.dropped = false;
      this.sessionReady = false;
      this.socket.emit("session_request", this.session || {});
      this.updateStatus();
    });
    this.socket.on("disconnect", (reason) => {
      this.connected = false;
      this.dropped = true;
      this.sessionReady = false;
      this.inflight = null;
      this.inflightId = null;
      this.updateStatus();
      if (reason === "io server disconnect") this.socket.connect();
    });
    this.socket.on("connect_error", () => {
      this.dropped = true;
      this.updateStatus();
    });
    this.socket.on("session_confirm", (data) => this.confirmed(data));
    this.socket.on("bot_uttered", (payload) => this.receive(payload));
  }

  confirmed(data) {
    const sessionId = typeof data === "string" ? data : data && data.session_id;
    if (!sessionId) return;
    if (this.session && this.session.session_id !== sessionId) {
      // The server did not accept the stored session: start afresh, dropping what belonged to it.
      this.messages = [];
      this.queue = [];
      this.storage.set("queue", this.queue);
      this.notice = TEXT.sessionReplaced;
    }
    this.session = { session_id: sessionId, signature: data.signature };
    this.storage.set("session", this.session);
    this.sessionReady = true;
    this.loadHistory();
  }

  loadHistory() {
    if (!this.connected || !this.sessionReady) return;
    this.historyLoading = true;
    this.socket.timeout(10000).emit("session_history", {}, (error, reply) => {
      this.historyLoading = false;
      if (!error && reply && Array.isArray(reply.messages)) {
        const processed = new Set(reply.messages.filter((m) => m.from === "user").map((m) => m.client_id));
        this.queue = this.queue.filter((q) => !processed.has(q.client_id));
        this.storage.set("queue", this.queue);
        this.messages = reply.messages.map((m) => ({
          from: m.from === "user" ? "user" : "bot",
          text: String(m.text || ""),
          time: Math.round(Number(m.time) * 1000) || Date.now(),
          clientId: m.client_id || undefined,
          quickReplies: Array.isArray(m.quick_replies) ? m.quick_replies : [],
          agent: m.from === "bot" && typeof m.agent === "string" && m.agent ? m.agent.slice(0, 60) : undefined,
        }));
        // What is still queued was not processed yet: it follows the server's record.
        for (const q of this.queue) {
          this.messages.push({ from: "user", text: q.display || q.text, time: q.time, clientId: q.client_id });
        }
      }
      this.render();
      this.flush();
    });
  }
}

function configFromScript(script) {
  if (!script) return {};
  const data = script.dataset;
  const config = {};
  if (script.src) config.server = new URL(script.src, window.location.href).origin;
  if (data.server) config.server = data.server;
  for (const key of ["title", "greeting", "color", "textColor", "path"]) {
    if (data[key] !== undefined) config[key] = data[key];
  }
  if (data.open !== undefined) config.open = data.open !== "false";
  if (data.transports) config.transports = data.transports.split(",").map((t) => t.trim()).filter(Boolean);
  return config;
}

const script = document.currentScript;
const scriptConfig = configFromScript(script);
let instance = null;

function init(options) {
  if (instance) return instance;
  const config = { ...DEFAULTS, ...scriptConfig, ...(options || {}) };
  config.server = String(config.server || window.location.origin).replace(/\/+$/, "");
  const start = () => {
    instance = instance || new ChatWidget(config);
  };
  if (document.body) start();
  else document.addEventListener("DOMContentLoaded", start, { once: true });
  return instance;
}

window.BillingChat = {
  version: VERSION,
  init,
  open: () => instance && instance.open(true),
  close: () => instance && instance.close(),
};

if (!script || script.dataset.manual === undefined) init();
