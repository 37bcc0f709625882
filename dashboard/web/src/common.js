// Shared by every page: translations (Vietnamese first), JSON calls with the API's error envelope,
// admin boundaries, and the /api/v1/live connection with reconnect and viewport resume.

const dict = {
  vi: {
    "lang.switch": "English",
    "conn.on": "Đã kết nối",
    "conn.off": "Mất kết nối, đang thử lại…",
    "conn.connecting": "Đang kết nối…",
    "layer.telemetry": "Cảm biến",
    "layer.camera": "Camera",
    "layer.alarm": "Cảnh báo",
    "layer.report": "Phản ánh",
    "layer.cluster": "Cụm",
    "area.all": "Toàn tỉnh",
    "area.label": "Đơn vị hành chính",
    "area.search": "Tìm đơn vị hành chính…",
    "alarms.title": "Cảnh báo đang mở",
    "alarms.none": "Không có cảnh báo",
    "alarm.new_critical": "Cảnh báo nghiêm trọng mới",
    "alarm.while_away": "cảnh báo phát sinh khi mất kết nối",
    "panel.close": "Đóng",
    "panel.values": "Giá trị mới nhất",
    "panel.history": "24 giờ qua",
    "panel.time": "Thời gian",
    "panel.kind": "Loại",
    "panel.snapshot": "Ảnh chụp camera",
    "panel.no_snapshot": "Chưa có ảnh chụp",
    "panel.areas": "Địa bàn",
    "alarm.ack": "Xác nhận",
    "alarm.clear": "Xóa cảnh báo",
    "alarm.assign": "Giao xử lý",
    "alarm.assignee": "Người xử lý",
    "alarm.note": "Ghi chú",
    "alarm.state": "Trạng thái",
    "alarm.severity": "Mức độ",
    "report.status": "Trạng thái",
    "report.category": "Lĩnh vực",
    "report.unit": "Đơn vị",
    "report.move": "Cập nhật trạng thái",
    "report.to": "Chuyển sang",
    "report.public_note": "Công khai ghi chú cho người dân",
    "report.due": "Hạn xử lý",
    "done": "Đã cập nhật",
    "replay.label": "Xem lại 24 giờ",
    "replay.live": "Trực tiếp",
    "replay.at": "Lúc",
    "legend": "Chú giải",
    "sev.critical": "Nghiêm trọng",
    "sev.major": "Cao",
    "sev.minor": "Trung bình",
    "sev.warning": "Thấp",
    "state.active_unack": "Chưa xác nhận",
    "state.active_ack": "Đã xác nhận",
    "state.cleared_unack": "Đã hết, chưa xác nhận",
    "state.cleared_ack": "Đã đóng",
    "st.new": "Mới tiếp nhận",
    "st.triaged": "Đã phân loại",
    "st.assigned": "Đã giao xử lý",
    "st.in_progress": "Đang xử lý",
    "st.resolved": "Đã xử lý xong",
    "st.closed": "Đã đóng",
    "st.duplicate": "Trùng lặp",
    "st.rejected": "Từ chối",
    "st.reopened": "Mở lại",
    "error": "Lỗi",
    "login.title": "Đăng nhập",
    "login.user": "Tên đăng nhập",
    "login.password": "Mật khẩu",
    "login.submit": "Đăng nhập",
    "login.failed": "Sai tên đăng nhập hoặc mật khẩu",
    "login.sso": "Đăng nhập bằng SSO",
    "logout": "Đăng xuất",
  },
  en: {
    "lang.switch": "Tiếng Việt",
    "conn.on": "Connected",
    "conn.off": "Disconnected, retrying…",
    "conn.connecting": "Connecting…",
    "layer.telemetry": "Sensors",
    "layer.camera": "Cameras",
    "layer.alarm": "Alarms",
    "layer.report": "Reports",
    "layer.cluster": "Clusters",
    "area.all": "Whole province",
    "area.label": "Administrative unit",
    "area.search": "Search units…",
    "alarms.title": "Open alarms",
    "alarms.none": "No alarms",
    "alarm.new_critical": "New critical alarm",
    "alarm.while_away": "alarms raised while disconnected",
    "panel.close": "Close",
    "panel.values": "Latest values",
    "panel.history": "Last 24 hours",
    "panel.time": "Time",
    "panel.kind": "Kind",
    "panel.snapshot": "Camera snapshot",
    "panel.no_snapshot": "No snapshot yet",
    "panel.areas": "Area",
    "alarm.ack": "Acknowledge",
    "alarm.clear": "Clear",
    "alarm.assign": "Assign",
    "alarm.assignee": "Assignee",
    "alarm.note": "Note",
    "alarm.state": "State",
    "alarm.severity": "Severity",
    "report.status": "Status",
    "report.category": "Category",
    "report.unit": "Unit",
    "report.move": "Change status",
    "report.to": "Move to",
    "report.public_note": "Show the note to citizens",
    "report.due": "Due",
    "done": "Updated",
    "replay.label": "Replay 24 hours",
    "replay.live": "Live",
    "replay.at": "At",
    "legend": "Legend",
    "sev.critical": "Critical",
    "sev.major": "Major",
    "sev.minor": "Minor",
    "sev.warning": "Warning",
    "state.active_unack": "Unacknowledged",
    "state.active_ack": "Acknowledged",
    "state.cleared_unack": "Cleared, unacknowledged",
    "state.cleared_ack": "Closed",
    "st.new": "Received",
    "st.triaged": "Triaged",
    "st.assigned": "Assigned",
    "st.in_progress": "In progress",
    "st.resolved": "Resolved",
    "st.closed": "Closed",
    "st.duplicate": "Duplicate",
    "st.rejected": "Rejected",
    "st.reopened": "Reopened",
    "error": "Error",
    "login.title": "Sign in",
    "login.user": "User name",
    "login.password": "Password",
    "login.submit": "Sign in",
    "login.failed": "Wrong user name or password",
    "login.sso": "Sign in with SSO",
    "logout": "Sign out",
  },
};

let lang = (() => {
  try {
    return localStorage.getItem("ioc.lang") === "en" ? "en" : "vi";
  } catch {
    return "vi";
  }
})();

const listeners = [];

/** Adds page-specific translations. */
export function addTexts(extra) {
  for (const l of Object.keys(extra)) Object.assign(dict[l], extra[l]);
}

/** t translates a key in the current language (the key itself when unknown). */
export function t(key) {
  return dict[lang][key] ?? dict.vi[key] ?? key;
}

export function currentLang() {
  return lang;
}

// FIELDS names the common sensor fields (those of the demo feed among them) in both languages, with
// their unit: [Vietnamese, English, unit, English unit when it differs]. Other fields show their key.
const FIELDS = {
  salinity: ["Độ mặn", "Salinity", "‰"],
  temperature: ["Nhiệt độ", "Temperature", "°C"],
  water_level: ["Mực nước", "Water level", "m"],
  pm25: ["Bụi PM2.5", "PM2.5", "µg/m³"],
  pm10: ["Bụi PM10", "PM10", "µg/m³"],
  rain_mm: ["Lượng mưa", "Rainfall", "mm"],
  rain: ["Lượng mưa", "Rainfall", "mm"],
  humidity: ["Độ ẩm", "Humidity", "%"],
  vehicles: ["Lưu lượng xe", "Vehicles", "xe", "vehicles"],
  battery: ["Pin", "Battery", "%"],
};

/** fieldLabel is a sensor field's name in the current language ("salinity" → "Độ mặn"). */
export function fieldLabel(key) {
  const f = FIELDS[key];
  return f ? (lang === "en" ? f[1] : f[0]) : key;
}

/** fieldUnit is a sensor field's unit in the current language, or "" when it is not known. */
export function fieldUnit(key) {
  const f = FIELDS[key];
  return f ? (lang === "en" && f[3]) || f[2] : "";
}

/** bi picks the current language's half of a "Tiếng Việt / English" text from the server. */
export function bi(text) {
  if (!text) return "";
  const i = text.indexOf(" / ");
  if (i < 0) return text;
  return lang === "en" ? text.slice(i + 3) : text.slice(0, i);
}

/** applyTexts fills every [data-t] element's text and [data-t-label] element's aria-label. */
export function applyTexts(root = document) {
  document.documentElement.lang = lang;
  for (const el of root.querySelectorAll("[data-t]")) el.textContent = t(el.dataset.t);
  for (const el of root.querySelectorAll("[data-t-label]")) el.setAttribute("aria-label", t(el.dataset.tLabel));
  for (const el of root.querySelectorAll("[data-t-ph]")) el.setAttribute("placeholder", t(el.dataset.tPh));
}

/** onLang registers a re-render for language changes. */
export function onLang(fn) {
  listeners.push(fn);
}

/** setupLangButton wires the language switch button. */
export function setupLangButton(btn) {
  const show = () => (btn.textContent = t("lang.switch"));
  show();
  btn.addEventListener("click", () => {
    lang = lang === "vi" ? "en" : "vi";
    try {
      localStorage.setItem("ioc.lang", lang);
    } catch {
      // private mode: the choice lasts for this page only
    }
    applyTexts();
    show();
    for (const fn of listeners) fn();
  });
  applyTexts();
}

const timeFmt = () =>
  new Intl.DateTimeFormat(lang === "en" ? "en-GB" : "vi-VN", {
    timeZone: "Asia/Ho_Chi_Minh",
    dateStyle: "short",
    timeStyle: "short",
  });

/** when formats an RFC 3339 time in Asia/Ho_Chi_Minh. */
export function when(ts) {
  if (!ts) return "—";
  const d = new Date(ts);
  return isNaN(d) ? "—" : timeFmt().format(d);
}

/** duration formats seconds as s, min or h. */
export function duration(s) {
  if (s == null || Number.isNaN(s)) return "—";
  if (s < 60) return num(s, 0) + " s";
  if (s < 3600) return num(s / 60, 1) + " min";
  return num(s / 3600, 1) + " h";
}

/** num formats a number for the current language. */
export function num(v, digits = 1) {
  if (v == null || Number.isNaN(v)) return "—";
  return new Intl.NumberFormat(lang === "en" ? "en-GB" : "vi-VN", { maximumFractionDigits: digits }).format(v);
}

/** APIError is an error answer of the API. */
export class APIError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** api calls a JSON route; errors carry the server's message. */
export async function api(path, opts = {}) {
  const init = { ...opts, headers: { Accept: "application/json", ...(opts.headers || {}) } };
  if (opts.json !== undefined) {
    init.method = init.method || "POST";
    init.body = JSON.stringify(opts.json);
    init.headers["Content-Type"] = "application/json";
  }
  const resp = await fetch(path, init);
  const text = await resp.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  if (!resp.ok) {
    const msg = body?.error?.message || text || resp.statusText;
    throw new APIError(resp.status, msg);
  }
  return body;
}

/** el builds an element: el("td", {class: "x"}, "text", child…). */
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(e.dataset, v);
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c == null || c === false) continue;
    e.append(c instanceof Node ? c : String(c));
  }
  return e;
}

/**
 * signedIn resolves with the signed-in account (GET /api/v1/auth/me). Without a session it shows a
 * sign-in form and resolves once the server has accepted it (the session is an HttpOnly cookie).
 */
export async function signedIn() {
  try {
    return await api("/api/v1/auth/me");
  } catch (err) {
    if (!(err instanceof APIError) || err.status !== 401) throw err;
  }
  return new Promise((resolve) => {
    const user = el("input", { id: "login-user", name: "user", autocomplete: "username", required: true });
    const pass = el("input", { id: "login-password", name: "password", type: "password", autocomplete: "current-password", required: true });
    const msg = el("p", { class: "msg err", role: "alert" });
    const form = el(
      "form",
      { class: "login", id: "login" },
      el("h2", {}, t("login.title")),
      el("label", { for: "login-user" }, t("login.user")),
      user,
      el("label", { for: "login-password" }, t("login.password")),
      pass,
      msg,
      el("button", { type: "submit" }, t("login.submit")),
    );
    const overlay = el("div", { class: "login-overlay", role: "dialog", "aria-modal": "true", "aria-labelledby": "login-h" }, form);
    form.querySelector("h2").id = "login-h";
    // Single sign-on, where the province's identity provider is configured: a plain link, the
    // server sends the browser on to the provider and back with the session cookie.
    uiConfig().then((cfg) => {
      if (cfg.sso) form.append(el("a", { class: "sso", id: "login-sso", href: "/auth/oidc/login" }, t("login.sso")));
    });
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      try {
        const me = await api("/api/v1/auth/login", { json: { user: user.value, password: pass.value } });
        overlay.remove();
        resolve(me);
      } catch (err) {
        msg.textContent = err.status === 401 ? t("login.failed") : err.message;
        pass.select();
      }
    });
    document.body.append(overlay);
    user.focus();
  });
}

/**
 * signOut ends the session and reloads the page (which asks to sign in again); a session opened
 * through single sign-on is also ended at the identity provider, which sends the browser back.
 */
export async function signOut() {
  const r = await api("/api/v1/auth/logout", { method: "POST" }).catch(() => null);
  if (r?.logout_url) {
    location.assign(r.logout_url);
    return;
  }
  location.reload();
}

/**
 * boundaries returns the outlines of the lowest level of the boundaries in use (communes, in a
 * province → commune set) as a GeoJSON FeatureCollection: from the public GET /api/v1/boundaries, or,
 * where that route does not exist, from the admin files built into the page assets (the features no
 * other feature names as its parent). Levels are whatever the data says; none is assumed.
 */
export async function boundaries(adminFile = "") {
  try {
    const fc = await api("/api/v1/boundaries");
    if (fc && Array.isArray(fc.features)) return fc;
  } catch (err) {
    if (!(err instanceof APIError) || err.status !== 404) throw err;
  }
  let files = await api("/admin/index.json");
  if (adminFile && files.includes(adminFile)) files = [adminFile];
  const all = [];
  for (const f of files) all.push(...((await api("/admin/" + f)).features || []));
  const parents = new Set(all.map((ft) => ft.properties?.parent).filter(Boolean));
  const features = all.filter((ft) => ft.properties?.code && !parents.has(ft.properties.code));
  return { type: "FeatureCollection", features, level: features[0]?.properties?.level || "" };
}

/**
 * unitTexts names the units of a boundary collection by the unit types in its data, most common
 * first ("Xã / Phường / Đặc khu"), "Đơn vị hành chính" when the data has none; it sets the
 * "area.label" text in both languages and returns the types joined ("" when the data has none).
 */
export function unitTexts(fc) {
  const count = new Map();
  for (const ft of fc.features || []) {
    const ty = ft.properties?.type;
    if (ty) count.set(ty, (count.get(ty) || 0) + 1);
  }
  const types = [...count.entries()].sort((a, b) => b[1] - a[1]).map((e) => e[0]).join(" / ");
  if (!types) return "";
  addTexts({ vi: { "area.label": types }, en: { "area.label": "Administrative unit (" + types + ")" } });
  return types;
}

/** fold is a name for searching: lower case, without diacritics (đ as d). */
export function fold(s) {
  return s.normalize("NFD").replace(/[\u0300-\u036f]/g, "").replace(/đ/gi, "d").toLowerCase();
}

/**
 * filterSelect lists in sel, after its "" option when it has one, the entries ([code, name], in
 * order) whose name (diacritics optional) or code holds query, all for none; the chosen one stays
 * listed. It returns how many entries it lists.
 */
export function filterSelect(sel, entries, query) {
  const q = fold(query.trim());
  const cur = sel.value;
  const fixed = [...sel.options].filter((o) => o.value === "");
  const opts = entries.filter(([code, name]) => !q || code === cur || fold(name).includes(q) || code.startsWith(q));
  sel.replaceChildren(...fixed, ...opts.map(([code, name]) => el("option", { value: code }, name)));
  if ([...sel.options].some((o) => o.value === cur)) sel.value = cur; // else the first option, as a new select
  return opts.length;
}

/** inArea says whether an item's areas (level → code) hold code at any level; always for no code. */
export function inArea(areas, code) {
  return !code || Object.values(areas || {}).includes(code);
}

/** uiConfig is the server's answer at /api/v1/ui/config ({} when unavailable). */
export async function uiConfig() {
  try {
    return await api("/api/v1/ui/config");
  } catch {
    return {};
  }
}

/**
 * Live keeps a websocket to /api/v1/live open: it reconnects with backoff, sends an application
 * ping, and re-sends the viewport subscription after every reconnect. A server that does not know
 * viewport subscriptions answers "subscribe" with an error frame and sends everything; Live then
 * stops subscribing (viewport === false) and the page filters by itself.
 */
export class Live {
  constructor({ onFrame, onStatus }) {
    this.onFrame = onFrame;
    this.onStatus = onStatus;
    this.sub = null;
    this.viewport = null; // null: not known yet; true/false once the server has answered
    this.awaiting = false;
    this.backoff = 500;
    this.ws = null;
    this.timer = setInterval(() => this.send({ type: "ping" }), 20000);
    // The browser knows before the socket does when the network is gone: close and retry at once.
    window.addEventListener("offline", () => this.ws?.close());
  }

  connect() {
    this.onStatus("connecting");
    // ?viewport=1: no full snapshot on connect, the subscription decides what comes (ignored by a
    // server without viewport subscriptions, which then sends everything).
    const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/api/v1/live?viewport=1");
    this.ws = ws;
    ws.onopen = () => {
      this.backoff = 500;
      if (this.viewport === false) this.viewport = null; // the server may have been upgraded: ask again
      this.onStatus("on");
      if (this.sub && this.viewport !== false) this.sendSub();
    };
    ws.onmessage = (ev) => {
      let f;
      try {
        f = JSON.parse(ev.data);
      } catch {
        return;
      }
      if (this.awaiting) {
        if (f.type === "error" && /subscribe/i.test(f.message || "")) {
          this.viewport = false;
          this.awaiting = false;
          this.onFrame({ type: "viewport", supported: false }, false);
          return;
        }
        if (f.mode || f.type === "clusters") {
          this.viewport = true;
          this.awaiting = false;
        }
      }
      this.onFrame(f, this.viewport === true);
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.onStatus("off");
      setTimeout(() => this.connect(), this.backoff);
      this.backoff = Math.min(this.backoff * 2, 8000);
    };
  }

  send(msg) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(msg));
  }

  sendSub() {
    this.awaiting = true;
    this.send(this.sub);
  }

  /**
   * subscribe asks for the entities inside bbox [minLon, minLat, maxLon, maxLat] at zoom on the given
   * layers (sensors, cameras, alarms, reports).
   */
  subscribe(bbox, zoom, layers) {
    this.sub = { type: "subscribe", bbox, zoom, layers };
    if (this.viewport !== false) this.sendSub();
  }
}
