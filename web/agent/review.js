// 待标注: the review queue page of the agent console, for supervisors (bot/channels/agent_console/review.py).
//
// console.js calls mountReview() after every sign-in. For a supervisor it adds one menu entry to
// the top bar and a page of its own; an agent gets neither (and the API answers 403 anyway).
// The page lists the pending misunderstood messages grouped by similar text; the supervisor ticks
// several (or a whole group), picks an intent, optionally marks entities by selecting text in a
// message, and submits: the labelled messages leave the list. Message texts are set with
// textContent only. 查看对话 opens the whole conversation a message came from (api/review/<id>/transcript).

const TEXT = {
  menu: "待标注",
  back: "返回会话",
  title: "待标注消息",
  empty: "没有待标注的消息。",
  pickIntent: "选择意图…",
  pickEntity: "选择实体…",
  similar: (n) => `相似消息 ${n} 条`,
  selectAll: "全选本组",
  submit: (n) => `标注选中的 ${n} 条`,
  mark: "把选中的文字标为实体",
  markHint: "在消息里用鼠标选中一段文字，选择实体名，再点“把选中的文字标为实体”。",
  noSelection: "请先在一条消息里选中要标注的文字。",
  noEntity: "请先选择实体名。",
  noItems: "请先勾选要标注的消息。",
  noIntent: "请先选择意图。",
  remove: "移除",
  conversation: "会话",
  transcript: "查看对话",
  hideTranscript: "收起对话",
  who: { user: "用户", bot: "机器人", agent: "客服", system: "系统" },
  confidence: "置信度",
  predicted: "模型判断",
};

const ids = {
  menu: "nav-review",
  view: "review-view",
};

function pad(n) {
  return String(n).padStart(2, "0");
}

function when(value) {
  const at = new Date(value);
  if (Number.isNaN(at.getTime())) return "";
  return `${at.getMonth() + 1}月${at.getDate()}日 ${pad(at.getHours())}:${pad(at.getMinutes())}`;
}

let unmount = null;

export function mountReview({ call, el, me }) {
  if (unmount) unmount();
  unmount = null;
  document.getElementById(ids.menu)?.remove();
  document.getElementById(ids.view)?.remove();
  const columns = document.querySelector("#app-view .columns");
  if (columns) columns.hidden = false;
  if (!me || me.role !== "supervisor") return;

  const state = { data: null, checked: new Set(), entities: new Map(), texts: new Map(), span: null };

  // The menu entry, next to the agent's name.
  const menu = el("button", "secondary nav-review", TEXT.menu);
  menu.type = "button";
  menu.id = ids.menu;
  document.getElementById("me").before(menu);

  // The page.
  const view = el("section", "review");
  view.id = ids.view;
  view.dataset.page = "review"; // one page of #app-view at a time (the dashboard hides it too)
  view.hidden = true;
  const head = el("div", "review-head");
  const title = el("h2", "", TEXT.title);
  const count = el("span", "count", "0");
  count.id = "review-count";
  title.append(" ", count);
  const back = el("button", "link", TEXT.back);
  back.type = "button";
  back.id = "review-back";
  head.append(title, back);

  const error = el("div", "error");
  error.id = "review-error";
  error.setAttribute("role", "alert");
  error.hidden = true;
  const status = el("div", "review-status");
  status.id = "review-status";
  status.setAttribute("role", "status");

  const tools = el("div", "card review-tools");
  const intent = el("select");
  intent.id = "review-intent";
  intent.setAttribute("aria-label", "意图");
  const entity = el("select");
  entity.id = "review-entity";
  entity.setAttribute("aria-label", "实体");
  const mark = el("button", "secondary", TEXT.mark);
  mark.type = "button";
  mark.id = "review-mark";
  const submit = el("button", "", TEXT.submit(0));
  submit.type = "button";
  submit.id = "review-submit";
  const row1 = el("div", "review-row");
  row1.append(el("label", "", "意图"), intent, submit);
  const row2 = el("div", "review-row");
  const picked = el("span", "review-picked muted");
  picked.id = "review-selection";
  row2.append(el("label", "", "实体（可选）"), entity, mark, picked);
  tools.append(row1, row2, el("p", "muted", TEXT.markHint));

  const empty = el("p", "muted", TEXT.empty);
  empty.id = "review-empty";
  empty.hidden = true;
  const groups = el("ol", "review-groups");
  groups.id = "review-groups";
  view.append(head, error, status, tools, empty, groups);
  document.getElementById("app-view").append(view);

  function showError(message) {
    error.hidden = !message;
    error.textContent = message || "";
  }

  function updateSubmit() {
    submit.textContent = TEXT.submit(state.checked.size);
    for (const box of groups.querySelectorAll(".review-select-all")) {
      const items = [...groups.querySelectorAll(`.review-check[data-group="${box.dataset.group}"]`)];
      box.checked = items.length > 0 && items.every((i) => i.checked);
    }
  }

  function entityList(itemId) {
    const list = el("ul", "review-entities");
    const text = state.texts.get(itemId) || "";
    (state.entities.get(itemId) || []).forEach((span, index) => {
      const line = el("li", "review-entity", `${span.entity} = ${text.slice(span.start, span.end)}（${span.start}–${span.end}）`);
      const remove = el("button", "link", TEXT.remove);
      remove.type = "button";
      remove.addEventListener("click", () => {
        state.entities.get(itemId).splice(index, 1);
        refreshEntities(itemId);
      });
      line.append(remove);
      list.append(line);
    });
    return list;
  }

  function refreshEntities(itemId) {
    const item = groups.querySelector(`.review-item[data-item-id="${itemId}"]`);
    if (item) item.querySelector(".review-entities").replaceWith(entityList(itemId));
  }

  function itemRow(item, groupIndex) {
    const row = el("li", "review-item");
    row.dataset.itemId = String(item.id);
    const box = el("input", "review-check");
    box.type = "checkbox";
    box.dataset.group = String(groupIndex);
    box.dataset.itemId = String(item.id);
    box.checked = state.checked.has(item.id);
    box.setAttribute("aria-label", `选择消息 #${item.id}`);
    box.addEventListener("change", () => {
      if (box.checked) state.checked.add(item.id);
      else state.checked.delete(item.id);
      updateSubmit();
    });
    const body = el("div", "review-body");
    const text = el("div", "review-text", item.text);
    text.dataset.itemId = String(item.id);
    const meta = el("div", "review-meta muted");
    const score = item.confidence === null || item.confidence === undefined ? "-" : item.confidence.toFixed(2);
    meta.append(
      el("span", "", `#${item.id}`),
      el("span", "review-reason", item.reason_label),
      el("span", "", `${TEXT.predicted}：${item.predicted_label || item.predicted_intent || "-"}（${TEXT.confidence} ${score}）`),
      el("span", "", item.channel || "-"),
      el("time", "", when(item.time)),
      el("span", "review-conversation", `${TEXT.conversation} ${item.conversation_id}`),
    );
    const open = el("button", "link review-open", TEXT.transcript);
    open.type = "button";
    const talk = el("ol", "review-transcript");
    talk.hidden = true;
    open.addEventListener("click", async () => {
      if (!talk.hidden) {
        talk.hidden = true;
        open.textContent = TEXT.transcript;
        return;
      }
      try {
        const data = await call("GET", `review/${item.id}/transcript`);
        talk.replaceChildren(
          ...data.transcript.map((entry) =>
            el("li", `review-line review-${entry.from}`, `${TEXT.who[entry.from] || entry.from}：${entry.text}`),
          ),
        );
        talk.hidden = false;
        open.textContent = TEXT.hideTranscript;
      } catch (problem) {
        showError(problem.message);
      }
    });
    meta.append(open);
    body.append(text, meta, entityList(item.id), talk);
    row.append(box, body);
    return row;
  }

  function groupBlock(group, index) {
    const block = el("li", "card review-group");
    block.dataset.key = group.key;
    const top = el("div", "review-group-head");
    const all = el("input", "review-select-all");
    all.type = "checkbox";
    all.dataset.group = String(index);
    all.id = `review-all-${index}`;
    const label = el("label", "", TEXT.selectAll);
    label.htmlFor = all.id;
    all.addEventListener("change", () => {
      for (const box of groups.querySelectorAll(`.review-check[data-group="${index}"]`)) {
        box.checked = all.checked;
        const id = Number(box.dataset.itemId);
        if (all.checked) state.checked.add(id);
        else state.checked.delete(id);
      }
      updateSubmit();
    });
    top.append(all, label, el("span", "review-group-count", TEXT.similar(group.count)));
    const list = el("ol", "review-items");
    list.append(...group.items.map((item) => itemRow(item, index)));
    block.append(top, list);
    return block;
  }

  function fillChoices(choices) {
    const chosenIntent = intent.value;
    const chosenEntity = entity.value;
    intent.replaceChildren(el("option", "", TEXT.pickIntent));
    intent.firstChild.value = "";
    for (const choice of choices.intents) {
      const option = el("option", "", choice.label === choice.name ? choice.name : `${choice.label}（${choice.name}）`);
      option.value = choice.name;
      intent.append(option);
    }
    intent.value = chosenIntent;
    entity.replaceChildren(el("option", "", TEXT.pickEntity));
    entity.firstChild.value = "";
    for (const name of choices.entities) {
      const option = el("option", "", name);
      option.value = name;
      entity.append(option);
    }
    entity.value = chosenEntity;
  }

  async function load() {
    const data = await call("GET", "review");
    state.data = data;
    state.texts = new Map(data.groups.flatMap((g) => g.items.map((i) => [i.id, i.text])));
    for (const id of [...state.checked]) if (!state.texts.has(id)) state.checked.delete(id);
    for (const id of [...state.entities.keys()]) if (!state.texts.has(id)) state.entities.delete(id);
    fillChoices(data.choices);
    count.textContent = String(data.pending);
    empty.hidden = data.groups.length > 0;
    groups.replaceChildren(...data.groups.map(groupBlock));
    updateSubmit();
  }

  // The last text selected inside one message (clicking the button may clear the live selection).
  function selectedSpan() {
    const selection = window.getSelection();
    if (!selection || selection.rangeCount === 0 || selection.isCollapsed) return null;
    const range = selection.getRangeAt(0);
    const node = range.startContainer;
    const holder = node.parentElement && node.parentElement.closest(".review-text");
    if (!holder || node !== range.endContainer || node.nodeType !== Node.TEXT_NODE || !groups.contains(holder)) {
      return null;
    }
    return { itemId: Number(holder.dataset.itemId), start: range.startOffset, end: range.endOffset };
  }

  function noteSelection() {
    if (view.hidden) return;
    const span = selectedSpan();
    if (!span) return;
    state.span = span;
    const text = state.texts.get(span.itemId) || "";
    picked.textContent = `已选中 #${span.itemId}：“${text.slice(span.start, span.end)}”`;
  }

  function markSelection() {
    showError("");
    if (!entity.value) return showError(TEXT.noEntity);
    const span = selectedSpan() || state.span;
    if (!span || !state.texts.has(span.itemId)) return showError(TEXT.noSelection);
    const spans = state.entities.get(span.itemId) || [];
    spans.push({ start: span.start, end: span.end, entity: entity.value });
    state.entities.set(span.itemId, spans);
    state.span = null;
    picked.textContent = "";
    window.getSelection()?.removeAllRanges();
    state.checked.add(span.itemId);
    const box = groups.querySelector(`.review-check[data-item-id="${span.itemId}"]`);
    if (box) box.checked = true;
    refreshEntities(span.itemId);
    updateSubmit();
    return undefined;
  }

  async function send() {
    showError("");
    status.textContent = "";
    if (state.checked.size === 0) return showError(TEXT.noItems);
    if (!intent.value) return showError(TEXT.noIntent);
    const chosen = [...state.checked].sort((a, b) => a - b);
    const entities = {};
    for (const id of chosen) if ((state.entities.get(id) || []).length) entities[String(id)] = state.entities.get(id);
    submit.disabled = true;
    try {
      const done = await call("POST", "review/label", { ids: chosen, intent: intent.value, entities });
      for (const id of done.labelled) {
        state.checked.delete(id);
        state.entities.delete(id);
      }
      status.textContent = done.message;
      await load();
    } catch (problem) {
      showError(problem.message);
    } finally {
      submit.disabled = false;
    }
    return undefined;
  }

  function show(open) {
    if (open) {
      for (const other of document.querySelectorAll("#app-view > [data-page]")) other.hidden = true;
    }
    view.hidden = !open;
    if (columns) columns.hidden = open;
    menu.setAttribute("aria-pressed", open ? "true" : "false");
    if (open) load().catch((problem) => showError(problem.message));
  }

  menu.addEventListener("click", () => show(view.hidden));
  // Another page (the dashboard) hides this one: the entry is then no longer pressed.
  new MutationObserver(() => {
    if (view.hidden) menu.setAttribute("aria-pressed", "false");
  }).observe(view, { attributes: true, attributeFilter: ["hidden"] });
  back.addEventListener("click", () => show(false));
  mark.addEventListener("click", markSelection);
  document.addEventListener("selectionchange", noteSelection);
  unmount = () => document.removeEventListener("selectionchange", noteSelection);
  submit.addEventListener("click", () => send());
}
