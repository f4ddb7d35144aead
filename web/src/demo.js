// The demo page's "demo phone" (development only): the SMS the development gateway "sent" to a
// demo number, so a newcomer can read the verification code without a terminal.
// Everything from the server is set with textContent.

const REFRESH_MS = 2000;

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

async function getJson(url) {
  let reply;
  try {
    reply = await fetch(url, { cache: "no-store" });
  } catch (_) {
    throw new Error("暂时无法连接服务器，稍后会自动重试。");
  }
  const body = await reply.json().catch(() => ({}));
  if (!reply.ok) throw new Error(body.error || "暂时无法读取，请稍后再试。");
  return body;
}

function start(panel) {
  const select = panel.querySelector("#demo-phone-select");
  const list = panel.querySelector("#demo-phone-sms");
  const status = panel.querySelector("#demo-phone-status");
  const refresh = panel.querySelector("#demo-phone-refresh");
  let shownKey = null;
  let timer = null;

  function show(messages) {
    const key = `${select.value}:${messages.map((m) => m.id).join(",")}`;
    if (key === shownKey) return; // unchanged: don't make screen readers repeat it
    shownKey = key;
    if (!messages.length) {
      list.replaceChildren(el("li", "demo-sms-empty", "暂无短信。在聊天中输入这个号码后，验证码会出现在这里。"));
      return;
    }
    list.replaceChildren(
      ...messages.map((m) => {
        const item = el("li", "demo-sms");
        const meta = el("div", "demo-sms-meta", `${m.time} · ${m.channel} · ${m.kind}`);
        const body = el("div", "demo-sms-body", m.body);
        item.append(meta, body);
        return item;
      }),
    );
  }

  async function load() {
    if (select.value === "") return;
    try {
      const reply = await getJson(`demo/outbox/${encodeURIComponent(select.value)}`);
      status.textContent = `发往 ${reply.masked_phone} 的最新短信（最新在前，每 2 秒刷新）`;
      show(reply.messages);
    } catch (error) {
      status.textContent = error.message;
    }
  }

  function schedule() {
    window.clearInterval(timer);
    timer = window.setInterval(load, REFRESH_MS);
  }

  select.addEventListener("change", () => {
    shownKey = null;
    load();
    schedule();
  });
  refresh.addEventListener("click", load);

  getJson("demo/phones")
    .then(({ phones }) => {
      select.replaceChildren(
        ...phones.map((p) => {
          const option = el("option", "", `${p.name} ${p.masked_phone}`);
          option.value = p.key;
          return option;
        }),
      );
      select.disabled = false;
      load();
      schedule();
    })
    .catch((error) => {
      status.textContent = error.message;
    });
}

const panel = document.getElementById("demo-phone");
if (panel) start(panel);
