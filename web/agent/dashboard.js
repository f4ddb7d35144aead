// 运营看板: the supervisors' dashboard page of the agent console (imported by console.js).
//
// Every figure comes from `GET api/dashboard?period=…` (bot/channels/agent_console/dashboard.py);
// the page computes nothing but the formatting. The key numbers are also written as text, each with
// a stable data-testid and its raw value in data-value (the browser tests read them), and every chart
// has a table of its data under it. Charts are drawn by Chart.js (bundled, no CDN); it styles its
// canvases through the DOM, which the console's Content-Security-Policy allows.
//
// The page adds one entry to the top bar (shown to accounts with the supervisor role only) and one
// section (#dashboard-view, data-page) next to the workbench (.columns), which it hides while open.

import {
  ArcElement,
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  DoughnutController,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
} from "chart.js";

Chart.register(
  ArcElement,
  BarController,
  BarElement,
  CategoryScale,
  DoughnutController,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
);
Chart.defaults.animation = false;
Chart.defaults.maintainAspectRatio = false;
Chart.defaults.font.family = '-apple-system, "PingFang SC", "Microsoft YaHei", "Noto Sans CJK SC", sans-serif';

const PERIODS = [
  ["today", "今天"],
  ["7d", "近7天"],
  ["30d", "近30天"],
];
const COLORS = ["#0a6ebd", "#e8833a", "#2e9d5b", "#b42318", "#7a5cc4", "#5f6b76", "#c9a227", "#1aa3a3", "#d0568a", "#3c4a57"];
const START_LABEL = "会话开头"; // the API's `null` intent before a misunderstanding: the session's first message

const $ = (id) => document.getElementById(id);
const page = { call: null, charts: [], period: "7d", request: 0 };

function el(tag, attrs, text) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "className") node.className = value;
    else node.setAttribute(key, value);
  }
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

function number(value, unit) {
  if (value === null || value === undefined) return "—";
  return unit ? `${value} ${unit}` : String(value);
}

/** A figure as text: label and value, data-testid="dash-<id>", data-value the raw number. */
function stat(id, label, value, unit) {
  const box = el("div", { className: "dash-stat" });
  box.append(el("span", { className: "dash-stat-label" }, label));
  const shown = el("strong", { "data-testid": `dash-${id}`, "data-value": value === null ? "" : String(value) });
  shown.textContent = number(value, unit);
  box.append(shown);
  return box;
}

function card(title, testid) {
  const box = el("section", { className: "card dash-card", "data-testid": testid });
  box.append(el("h3", {}, title));
  return box;
}

function chart(box, testid, config) {
  const holder = el("div", { className: "dash-chart" });
  const canvas = el("canvas", { "data-testid": testid, role: "img", "aria-label": box.querySelector("h3").textContent });
  holder.append(canvas);
  box.append(holder);
  page.charts.push(new Chart(canvas, config));
}

/** The chart's data as a table (folded), each value cell with data-testid "<prefix>-<key>". */
function table(box, caption, head, rows) {
  const details = el("details", { className: "dash-table" });
  details.append(el("summary", {}, caption));
  const grid = el("table");
  const tr = el("tr");
  for (const h of head) tr.append(el("th", {}, h));
  const thead = el("thead");
  thead.append(tr);
  grid.append(thead);
  const body = el("tbody");
  for (const row of rows) {
    const line = el("tr");
    for (const [text, testid] of row) line.append(el("td", testid ? { "data-testid": testid } : {}, text));
    body.append(line);
  }
  grid.append(body);
  details.append(grid);
  box.append(details);
}

function bars(labels, datasets, options) {
  return {
    type: "bar",
    data: {
      labels,
      datasets: datasets.map((set, i) => ({ backgroundColor: COLORS[i % COLORS.length], ...set })),
    },
    options: {
      plugins: { legend: { display: datasets.length > 1 } },
      scales: { y: { beginAtZero: true, ticks: { precision: 0 } } },
      ...options,
    },
  };
}

function hourLabel(hour, oneDay) {
  // "2026-11-22T09:00:00+08:00", Beijing time as the API gives it
  const hh = hour.slice(11, 13);
  return oneDay ? `${hh}时` : `${hour.slice(5, 10)} ${hh}时`;
}

function intentKey(intent) {
  return intent === null ? "start" : intent;
}

// --- the page --------------------------------------------------------------------------------

function render(data) {
  for (const c of page.charts) c.destroy();
  page.charts = [];
  const root = $("dashboard-body");
  root.replaceChildren();
  $("dashboard-range").textContent = `${data.period.label}：${data.period.days[0]} 至 ${data.period.days[data.period.days.length - 1]}（北京时间）`;
  $("dashboard-range").dataset.period = data.period.name;

  const conv = data.conversations;
  const hand = data.handoffs;
  const mis = data.misunderstood;
  const rat = data.ratings;
  const lat = data.latency_ms;

  const summary = el("div", { className: "dash-stats", "data-testid": "dash-summary" });
  summary.append(
    stat("conversations-total", "会话数", conv.total),
    stat("contained", "机器人独立完成", conv.contained),
    stat("handed-over", "转人工会话", conv.handed_over),
    stat("misunderstood-total", "未理解的消息", mis.total),
    stat("ratings-average", "平均满意度", rat.average, "分"),
    stat("latency-p50", "响应时间 p50", lat.p50, "毫秒"),
    stat("latency-p95", "响应时间 p95", lat.p95, "毫秒"),
  );
  root.append(summary);
  const grid = el("div", { className: "dash-grid" });
  root.append(grid);

  // conversations per hour
  const oneDay = data.period.days.length === 1;
  let box = card("每小时会话数", "dash-card-hourly");
  chart(
    box,
    "dash-chart-hourly",
    bars(
      conv.per_hour.map((row) => hourLabel(row.hour, oneDay)),
      [{ label: "会话数", data: conv.per_hour.map((row) => row.count) }],
    ),
  );
  const busy = conv.per_hour.filter((row) => row.count > 0);
  table(
    box,
    "有会话的小时",
    ["小时", "会话数"],
    busy.map((row) => [[hourLabel(row.hour, false)], [row.count, `dash-hour-${row.hour.slice(0, 13)}`]]),
  );
  box.classList.add("dash-wide");
  grid.append(box);

  // contained vs handed over, handoff reasons
  box = card("机器人独立完成与转人工", "dash-card-handover");
  chart(box, "dash-chart-handover", {
    type: "doughnut",
    data: {
      labels: ["机器人独立完成", "转人工"],
      datasets: [{ data: [conv.contained, conv.handed_over], backgroundColor: [COLORS[2], COLORS[1]] }],
    },
  });
  grid.append(box);

  box = card("转人工原因", "dash-card-reasons");
  const stats = el("div", { className: "dash-stats" });
  stats.append(stat("handoffs-total", "转人工次数", hand.total), stat("tickets", "其中留言", hand.tickets));
  box.append(stats);
  chart(box, "dash-chart-reasons", bars(hand.reasons.map((r) => r.label), [{ label: "次数", data: hand.reasons.map((r) => r.count) }], { indexAxis: "y", scales: { x: { beginAtZero: true, ticks: { precision: 0 } } } }));
  table(box, "数据", ["原因", "次数"], hand.reasons.map((r) => [[r.label], [r.count, `dash-reason-${r.reason}`]]));
  grid.append(box);

  // misunderstood turns per day and the intents before them
  box = card("每天未理解的消息", "dash-card-misread");
  const kinds = mis.kind_labels;
  chart(
    box,
    "dash-chart-misread",
    bars(
      mis.per_day.map((row) => row.day.slice(5)),
      [
        { label: kinds.fallback, data: mis.per_day.map((row) => row.fallback), stack: "k" },
        { label: kinds.clarification, data: mis.per_day.map((row) => row.clarification), stack: "k" },
      ],
      { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } } },
    ),
  );
  table(
    box,
    "数据",
    ["日期", kinds.fallback, kinds.clarification],
    mis.per_day.map((row) => [[row.day], [row.fallback, `dash-misread-${row.day}-fallback`], [row.clarification, `dash-misread-${row.day}-clarification`]]),
  );
  grid.append(box);

  box = card("未理解之前的意图", "dash-card-before");
  const beforeLabel = (r) => (r.intent === null ? START_LABEL : r.label);
  chart(box, "dash-chart-before", bars(mis.intents_before.map(beforeLabel), [{ label: "次数", data: mis.intents_before.map((r) => r.count) }], { indexAxis: "y", scales: { x: { beginAtZero: true, ticks: { precision: 0 } } } }));
  table(box, "数据", ["意图", "次数"], mis.intents_before.map((r) => [[beforeLabel(r)], [r.count, `dash-before-${intentKey(r.intent)}`]]));
  grid.append(box);

  // top intents, tasks completed
  box = card("最常见的意图", "dash-card-intents");
  chart(box, "dash-chart-intents", bars(data.intents.map((r) => r.label), [{ label: "消息数", data: data.intents.map((r) => r.count) }], { indexAxis: "y", scales: { x: { beginAtZero: true, ticks: { precision: 0 } } } }));
  table(box, "数据", ["意图", "消息数"], data.intents.map((r) => [[r.label], [r.count, `dash-intent-${r.intent}`]]));
  grid.append(box);

  box = card("用户办成的事", "dash-card-tasks");
  const tasks = el("div", { className: "dash-stats" });
  for (const t of data.tasks) tasks.append(stat(`task-${t.task}`, t.label, t.count));
  box.append(tasks);
  chart(box, "dash-chart-tasks", bars(data.tasks.map((t) => t.label), [{ label: "次数", data: data.tasks.map((t) => t.count) }]));
  grid.append(box);

  // ratings: distribution and average per day
  box = card("满意度评分分布", "dash-card-ratings");
  const rs = el("div", { className: "dash-stats" });
  rs.append(stat("ratings-count", "评分数", rat.count));
  box.append(rs);
  chart(box, "dash-chart-ratings", bars(rat.distribution.map((r) => `${r.score}分`), [{ label: "评分数", data: rat.distribution.map((r) => r.count) }]));
  table(box, "数据", ["评分", "数量"], rat.distribution.map((r) => [[`${r.score}分`], [r.count, `dash-rating-${r.score}`]]));
  grid.append(box);

  box = card("每天平均满意度", "dash-card-rating-days");
  chart(box, "dash-chart-rating-days", {
    type: "line",
    data: {
      labels: rat.per_day.map((r) => r.day.slice(5)),
      datasets: [{ label: "平均分", data: rat.per_day.map((r) => r.average), borderColor: COLORS[0], backgroundColor: COLORS[0], spanGaps: true }],
    },
    options: { plugins: { legend: { display: false } }, scales: { y: { min: 0, max: 5 } } },
  });
  table(
    box,
    "数据",
    ["日期", "评分数", "平均分"],
    rat.per_day.map((r) => [[r.day], [r.count, `dash-rating-day-${r.day}-count`], [number(r.average), `dash-rating-day-${r.day}-average`]]),
  );
  grid.append(box);

  // queue wait and handling time
  box = card("排队等待与人工处理时长", "dash-card-durations");
  const ds = el("div", { className: "dash-stats" });
  for (const [key, label, figures] of [
    ["wait", "排队等待", hand.queue_wait_seconds],
    ["handling", "人工处理", hand.handling_seconds],
  ]) {
    ds.append(
      stat(`${key}-count`, `${label}（次）`, figures.count),
      stat(`${key}-mean`, `${label} 平均`, figures.mean, "秒"),
      stat(`${key}-p50`, `${label} p50`, figures.p50, "秒"),
      stat(`${key}-p95`, `${label} p95`, figures.p95, "秒"),
    );
  }
  box.append(ds);
  const w = hand.queue_wait_seconds;
  const h = hand.handling_seconds;
  chart(
    box,
    "dash-chart-durations",
    bars(["平均", "p50", "p95"], [
      { label: "排队等待（秒）", data: [w.mean, w.p50, w.p95] },
      { label: "人工处理（秒）", data: [h.mean, h.p50, h.p95] },
    ]),
  );
  grid.append(box);

  // turn latency
  box = card("机器人响应时间", "dash-card-latency");
  const ls = el("div", { className: "dash-stats" });
  ls.append(stat("latency-count", "回合数", lat.count));
  box.append(ls);
  chart(box, "dash-chart-latency", bars(["p50", "p95"], [{ label: "毫秒", data: [lat.p50, lat.p95] }]));
  grid.append(box);
}

async function load(period) {
  page.period = period;
  const mine = ++page.request;
  for (const button of document.querySelectorAll("#dashboard-periods button")) {
    button.setAttribute("aria-pressed", String(button.dataset.period === period));
  }
  const error = $("dashboard-error");
  $("dashboard-view").setAttribute("aria-busy", "true");
  try {
    const data = await page.call("GET", `dashboard?period=${encodeURIComponent(period)}`);
    if (mine !== page.request) return;
    error.hidden = true;
    render(data);
  } catch (failure) {
    if (mine !== page.request) return;
    error.textContent = failure.message;
    error.hidden = false;
  } finally {
    if (mine === page.request) $("dashboard-view").removeAttribute("aria-busy");
  }
}

function build() {
  const view = el("section", { id: "dashboard-view", className: "dashboard", "data-page": "dashboard", hidden: "" });
  const head = el("div", { className: "dash-head" });
  head.append(el("h2", {}, "运营看板"));
  const periods = el("div", { id: "dashboard-periods", className: "dash-periods", role: "group", "aria-label": "统计周期" });
  for (const [name, label] of PERIODS) {
    const button = el("button", { type: "button", className: "secondary", "data-period": name, "data-testid": `dash-period-${name}`, "aria-pressed": "false" }, label);
    button.addEventListener("click", () => load(name));
    periods.append(button);
  }
  head.append(periods);
  const back = el("button", { type: "button", className: "link", id: "dashboard-back" }, "返回工作台");
  back.addEventListener("click", hide);
  head.append(back);
  view.append(head, el("p", { id: "dashboard-range", className: "muted", "data-testid": "dash-range" }));
  const error = el("p", { id: "dashboard-error", className: "error", role: "alert", hidden: "" });
  view.append(error, el("div", { id: "dashboard-body" }));
  $("app-view").append(view);
  return view;
}

function show() {
  for (const other of document.querySelectorAll("#app-view > .columns, #app-view > [data-page]")) other.hidden = true;
  $("dashboard-view").hidden = false;
  load(page.period);
}

function hide() {
  $("dashboard-view").hidden = true;
  for (const c of page.charts) c.destroy();
  page.charts = [];
  const columns = document.querySelector("#app-view > .columns");
  if (columns) columns.hidden = false;
}

/**
 * Sets the page up for the signed-in account (call after every sign-in): the 运营看板 entry
 * (#nav-dashboard) is shown to supervisors only, and the workbench is on screen.
 * @param {(method: string, path: string) => Promise<object>} call the console's API call
 * @param {{role: string}} me the signed-in account
 */
export function setupDashboard(call, me) {
  page.call = call;
  if (!$("dashboard-view")) build();
  const entry = $("nav-dashboard");
  if (!entry.dataset.bound) {
    entry.addEventListener("click", show);
    entry.dataset.bound = "1";
  }
  entry.hidden = !(me && me.role === "supervisor");
  if (!$("dashboard-view").hidden) hide();
}
