// Minimal live view: keeps the latest state of every entity from /api/v1/live.
(function () {
  "use strict";
  const state = new Map();
  let updates = 0, dirty = false, backoff = 500;
  const rows = document.getElementById("rows");
  const conn = document.getElementById("conn");
  const fmt = new Intl.DateTimeFormat("vi-VN", { timeZone: "Asia/Ho_Chi_Minh", dateStyle: "short", timeStyle: "medium" });

  function render() {
    dirty = false;
    document.getElementById("count").textContent = state.size;
    document.getElementById("updates").textContent = updates;
    const items = [...state.values()].sort((a, b) => a.id.localeCompare(b.id)).slice(0, 500);
    const frag = document.createDocumentFragment();
    for (const it of items) {
      const tr = document.createElement("tr");
      const vals = Object.entries(it.values || {}).map(([k, v]) => k + "=" + v).join(", ");
      const loc = it.location ? it.location[1].toFixed(4) + ", " + it.location[0].toFixed(4) : "—";
      for (const text of [it.id, it.kind, vals, loc, it.ts ? fmt.format(new Date(it.ts)) : "—"]) {
        const td = document.createElement("td");
        td.textContent = text;
        tr.appendChild(td);
      }
      frag.appendChild(tr);
    }
    rows.replaceChildren(frag);
  }

  function connect() {
    const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/api/v1/live");
    ws.onopen = () => { conn.textContent = "Đã kết nối / connected"; conn.className = "conn on"; backoff = 500; };
    ws.onmessage = (ev) => {
      const f = JSON.parse(ev.data);
      if (f.type === "snapshot") state.clear();
      for (const it of f.items || []) state.set(it.id, it);
      if (f.type === "update") updates += (f.items || []).length;
      if (!dirty) { dirty = true; requestAnimationFrame(render); }
    };
    ws.onclose = () => {
      conn.textContent = "Mất kết nối, đang thử lại… / reconnecting…"; conn.className = "conn off";
      setTimeout(connect, backoff); backoff = Math.min(backoff * 2, 10000);
    };
  }
  connect();
})();
