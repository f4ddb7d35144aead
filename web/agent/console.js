// 人工客服工作台: the agent console, served by bot/channels/agent_console/ under /webhooks/agent/.
//
// The page holds nothing by itself: after sign-in every piece of data comes from the JSON API with
// the agent's token (kept in sessionStorage, so it ends with the tab). Any 401 goes back to sign-in.
// Live updates come over socket.io (namespace /agent, authenticated with the same token): the
// server says what changed and the console reads it from the API again. Automatic refreshes send
// `X-Console-Refresh: auto`, so they do not keep an idle agent signed in.
//
// Text from subscribers, the bot and agents is only ever set with textContent.

import { io } from "socket.io-client";
import { setupDashboard } from "./dashboard.js";
import { mountReview } from "./review.js";

const BASE = new URL(".", window.location.href);
const API = new URL("api/", BASE);
const TOKEN_KEY = "agent-console:token";
const QUEUE_POLL_MS = 10000;
const HANDOFF_POLL_MS = 5000;
const TEXT = {
  expired: "登录已失效，请重新登录。",
  network: "网络异常，请稍后再试。",
  live: "实时连接正常",
  offline: "实时连接已断开，每隔几秒自动刷新",
  connecting: "连接中…",
  you: "您",
  user: "用户",
  bot: "机器人",
  system: "系统",
  closeConfirmEmpty: "请填写处理结果。",
  notDelivered: "消息已记录，但用户所在渠道（App）无法实时推送，用户下次打开对话时可以看到。",
  noHolder: "接入后才能回复用户。",
};
const REASONS = {
  requested: "用户要求转人工",
  fallback: "机器人未能理解",
  locked: "身份验证被锁定",
  complaint: "升级投诉",
  dependency: "系统连续故障",
};

const $ = (id) => document.getElementById(id);
const state = { token: null, me: null, current: null, view: null, socket: null, queueTimer: null, handoffTimer: null };

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

function pad(n) {
  return String(n).padStart(2, "0");
}

function clock(value) {
  const when = typeof value === "number" ? new Date(value * 1000) : new Date(value);
  if (Number.isNaN(when.getTime())) return "";
  const hm = `${pad(when.getHours())}:${pad(when.getMinutes())}:${pad(when.getSeconds())}`;
  if (when.toDateString() === new Date().toDateString()) return hm;
  return `${when.getMonth() + 1}月${when.getDate()}日 ${hm}`;
}

function waited(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return `${s} 秒`;
  if (s < 3600) return `${Math.floor(s / 60)} 分 ${s % 60} 秒`;
  return `${Math.floor(s / 3600)} 小时 ${Math.floor((s % 3600) / 60)} 分`;
}

class Unauthorized extends Error {}

async function call(method, path, body, options) {
  const headers = { Accept: "application/json" };
  if (state.token) headers.Authorization = `Bearer ${state.token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (options && options.auto) headers["X-Console-Refresh"] = "auto";
  let reply;
  try {
    reply = await fetch(new URL(path, API), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
      credentials: "omit",
    });
  } catch (_) {
    throw new Error(TEXT.network);
  }
  let data = {};
  try {
    data = await reply.json();
  } catch (_) {
    data = {};
  }
  if (reply.status === 401 && path !== "login") {
    signedOut(TEXT.expired);
    throw new Unauthorized(TEXT.expired);
  }
  if (!reply.ok) throw new Error(data.error || TEXT.network);
  return data;
}

// --- sign-in ---------------------------------------------------------------------------------

function showLogin(message) {
  $("app-view").hidden = true;
  $("login-view").hidden = false;
  const error = $("login-error");
  error.hidden = !message;
  error.textContent = message || "";
  $("password").value = "";
  $(state.me ? "password" : "username").focus();
}

function signedOut(message) {
  state.token = null;
  state.current = null;
  state.view = null;
  sessionStorage.removeItem(TOKEN_KEY);
  window.clearInterval(state.queueTimer);
  window.clearInterval(state.handoffTimer);
  if (state.socket) {
    state.socket.disconnect();
    state.socket = null;
  }
  showLogin(message);
}

async function signIn(event) {
  event.preventDefault();
  const button = $("login-button");
  button.disabled = true;
  try {
    const data = await call("POST", "login", { username: $("username").value, password: $("password").value });
    state.token = data.token;
    sessionStorage.setItem(TOKEN_KEY, data.token);
    state.me = data.agent;
    await start();
  } catch (error) {
    showLogin(error.message);
  } finally {
    button.disabled = false;
  }
}

async function signOut() {
  try {
    await call("POST", "logout", {});
  } catch (_) {
    /* signed out locally either way */
  }
  signedOut("");
}

async function start() {
  const data = await call("GET", "me");
  state.me = data.agent;
  $("me").textContent = `${state.me.name}（${state.me.username}）`;
  setupDashboard(call, state.me);
  mountReview({ call, el, me: state.me });
  $("login-view").hidden = true;
  $("app-view").hidden = false;
  connectLive();
  await loadQueue();
  state.queueTimer = window.setInterval(() => loadQueue(true).catch(() => {}), QUEUE_POLL_MS);
  state.handoffTimer = window.setInterval(() => {
    if (state.current) loadHandoff(state.current, true).catch(() => {});
  }, HANDOFF_POLL_MS);
}

// --- live updates ----------------------------------------------------------------------------

function connectLive() {
  const socket = io(`${window.location.origin}/agent`, {
    path: "/socket.io",
    auth: { token: state.token },
    transports: ["websocket", "polling"],
    reconnectionDelay: 1000,
    reconnectionDelayMax: 5000,
  });
  state.socket = socket;
  const live = $("live-state");
  live.textContent = TEXT.connecting;
  socket.on("connect", () => {
    live.textContent = TEXT.live;
    live.dataset.state = "online";
    socket.emit("watch", { handoff_id: state.current });
    loadQueue(true).catch(() => {});
    if (state.current) loadHandoff(state.current, true).catch(() => {});
  });
  socket.on("disconnect", () => {
    live.textContent = TEXT.offline;
    live.dataset.state = "offline";
  });
  socket.on("connect_error", () => {
    live.textContent = TEXT.offline;
    live.dataset.state = "offline";
  });
  socket.on("queue_changed", () => loadQueue(true).catch(() => {}));
  socket.on("handoff_changed", (data) => {
    if (data && data.handoff_id === state.current) loadHandoff(state.current, true).catch(() => {});
  });
}

// --- the queue -------------------------------------------------------------------------------

function queueItem(handoff) {
  const item = el("li");
  const button = el("button", "queue-item");
  button.type = "button";
  button.dataset.handoffId = String(handoff.id);
  if (handoff.id === state.current) button.setAttribute("aria-current", "true");
  const summary = handoff.summary || {};
  const top = el("div", "queue-top");
  top.append(el("span", `badge status-${handoff.status}`, handoff.status_label), el("span", "channel", handoff.channel_label));
  const who = summary.verified ? `已验证 ${summary.masked_phone || ""}` : "未验证身份";
  const wanted = (summary.wanted || []).join("、") || "未说明";
  button.append(
    top,
    el("div", "queue-reason", REASONS[handoff.reason] || handoff.reason),
    el("div", "queue-wanted", `诉求：${wanted}`),
    el("div", "queue-who", who),
  );
  const meta = el("div", "queue-meta");
  if (handoff.status === "queued") {
    meta.append(el("span", "wait", `已等待 ${waited(handoff.waiting_seconds)}`));
  } else if (handoff.claimed_by) {
    meta.append(el("span", "holder", `接入：${handoff.claimed_by.name}`));
  } else if (handoff.ticket_no) {
    meta.append(el("span", "ticket", `留言 ${handoff.ticket_no}`));
  }
  button.append(meta);
  button.addEventListener("click", () => open(handoff.id));
  item.append(button);
  return item;
}

async function loadQueue(auto) {
  const data = await call("GET", "queue", undefined, { auto });
  $("queue").replaceChildren(...data.handoffs.map(queueItem));
  $("tickets").replaceChildren(...data.tickets.map(queueItem));
  $("queue-count").textContent = String(data.handoffs.length);
  $("ticket-count").textContent = String(data.tickets.length);
  $("queue-empty").hidden = data.handoffs.length > 0;
}

// --- one conversation ------------------------------------------------------------------------

async function open(handoffId) {
  state.current = handoffId;
  $("close-form").hidden = true;
  showError("");
  if (state.socket && state.socket.connected) state.socket.emit("watch", { handoff_id: handoffId });
  for (const b of document.querySelectorAll(".queue-item")) {
    if (Number(b.dataset.handoffId) === handoffId) b.setAttribute("aria-current", "true");
    else b.removeAttribute("aria-current");
  }
  try {
    await loadHandoff(handoffId, false);
  } catch (error) {
    if (!(error instanceof Unauthorized)) showError(error.message);
  }
}

function showError(message) {
  const box = $("action-error");
  box.hidden = !message;
  box.textContent = message || "";
}

function summaryRows(handoff) {
  const s = handoff.summary || {};
  const rows = [
    ["转人工原因", REASONS[handoff.reason] || handoff.reason],
    ["用户诉求", (s.wanted || []).join("、") || "未说明"],
    ["身份验证", s.verified ? `已验证 ${s.masked_phone || ""}${s.level === "strong" ? "（强验证）" : ""}` : "未验证"],
    ["机器人已尝试", (s.tried || []).join("、") || "无"],
    ["遇到的问题", (s.problems || []).join("、") || "无"],
    ["可疑扣费", (s.flagged_charges || []).join("\n") || "无"],
    ["渠道", handoff.channel_label],
    ["排队时间", `${clock(handoff.queued_at)}（等待 ${waited(handoff.waiting_seconds)}）`],
  ];
  if (handoff.claimed_by) rows.push(["接入客服", handoff.claimed_by.name]);
  if (handoff.message) rows.push(["留言内容", handoff.message]);
  if (handoff.resolution) rows.push(["处理结果", handoff.resolution]);
  const fragment = document.createDocumentFragment();
  for (const [term, value] of rows) fragment.append(el("dt", "", term), el("dd", "", value));
  return fragment;
}

function transcriptItem(entry) {
  const item = el("li", `msg msg-${entry.from}`);
  let who = TEXT.system;
  if (entry.from === "user") who = TEXT.user;
  else if (entry.from === "bot") who = TEXT.bot;
  else if (entry.from === "agent") who = entry.agent_id === (state.me && state.me.id) ? `${entry.agent}（${TEXT.you}）` : entry.agent;
  const head = el("div", "msg-head");
  head.append(el("span", "msg-who", who), el("time", "msg-time", clock(entry.time)));
  item.append(head, el("div", "msg-text", entry.text));
  return item;
}

function render(view) {
  const handoff = view.handoff;
  const mine = handoff.status === "claimed" && handoff.claimed_by && handoff.claimed_by.id === view.me.id;
  $("pick").hidden = true;
  $("detail").hidden = false;
  $("headline").textContent = handoff.headline || `会话 #${handoff.id}`;
  const status = $("status");
  status.textContent = handoff.status_label;
  status.className = `badge status-${handoff.status}`;
  $("summary").replaceChildren(summaryRows(handoff));
  const list = $("transcript");
  const atEnd = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  list.replaceChildren(...view.transcript.map(transcriptItem));
  if (atEnd || !state.view || state.view.handoff.id !== handoff.id) list.scrollTop = list.scrollHeight;
  $("notes").replaceChildren(
    ...view.notes.map((n) => {
      const item = el("li", "note");
      const head = el("div", "msg-head");
      head.append(el("span", "msg-who", n.agent), el("time", "msg-time", clock(n.time)));
      item.append(head, el("div", "msg-text", n.text));
      return item;
    }),
  );
  $("claim").hidden = handoff.status !== "queued";
  $("hand-back").hidden = !mine;
  $("close").hidden = !(mine || handoff.status === "ticket");
  $("reply-form").hidden = !mine;
  $("reply-hint").textContent = TEXT.noHolder;
  $("reply-hint").hidden = handoff.status !== "queued";
  state.view = view;
}

async function loadHandoff(handoffId, auto) {
  const view = await call("GET", `handoffs/${handoffId}`, undefined, { auto });
  if (state.current === handoffId) render(view);
}

async function act(button, work) {
  showError("");
  button.disabled = true;
  try {
    await work();
  } catch (error) {
    if (!(error instanceof Unauthorized)) showError(error.message);
  } finally {
    button.disabled = false;
  }
  if (state.current && state.token) {
    await Promise.all([loadHandoff(state.current, false), loadQueue(false)]).catch(() => {});
  }
}

function bind() {
  $("login-form").addEventListener("submit", signIn);
  $("logout").addEventListener("click", signOut);
  $("claim").addEventListener("click", () => act($("claim"), () => call("POST", `handoffs/${state.current}/claim`, {})));
  $("hand-back").addEventListener("click", () =>
    act($("hand-back"), () => call("POST", `handoffs/${state.current}/hand-back`, {})),
  );
  $("close").addEventListener("click", () => {
    $("close-form").hidden = false;
    $("resolution").focus();
  });
  $("close-cancel").addEventListener("click", () => {
    $("close-form").hidden = true;
  });
  $("close-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const resolution = $("resolution").value.trim();
    if (!resolution) {
      showError(TEXT.closeConfirmEmpty);
      return;
    }
    act($("close-confirm"), async () => {
      await call("POST", `handoffs/${state.current}/close`, { resolution });
      $("resolution").value = "";
      $("close-form").hidden = true;
    });
  });
  const sendReply = () => {
    const text = $("reply").value.trim();
    if (!text) return;
    act($("send"), async () => {
      const result = await call("POST", `handoffs/${state.current}/messages`, { text });
      $("reply").value = "";
      if (!result.delivered) showError(TEXT.notDelivered);
    });
  };
  $("reply-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sendReply();
  });
  $("reply").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
      event.preventDefault();
      sendReply();
    }
  });
  $("note-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = $("note").value.trim();
    if (!text) return;
    act($("add-note"), async () => {
      await call("POST", `handoffs/${state.current}/notes`, { text });
      $("note").value = "";
    });
  });
}

async function boot() {
  bind();
  state.token = sessionStorage.getItem(TOKEN_KEY);
  if (!state.token) {
    showLogin("");
    return;
  }
  try {
    await start();
  } catch (error) {
    if (!(error instanceof Unauthorized)) showLogin(error.message);
  }
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", boot, { once: true });
else boot();
