// Operator live map: boundaries as the base map, live entities by layer, viewport subscription,
// server clusters, side panel with actions, alarm list with sound, area filter with search, 24 h replay.
import L from "leaflet";
import "leaflet/dist/leaflet.css";
import "./base.css";
import "./map.css";
import { Live, api, applyTexts, bi, boundaries, el, fold, inArea, unitTexts, fieldLabel, fieldUnit, num, onLang, setupLangButton, signOut, signedIn, t, uiConfig, when } from "./common.js";
import { sparkline } from "./spark.js";

const LAYERS = ["telemetry", "camera", "alarm", "report"];
// Layer names of the viewport subscription protocol by entity type.
const SUB_LAYER = { telemetry: "sensors", camera: "cameras", alarm: "alarms", report: "reports" };
const SEVERITY = { critical: 4, major: 3, minor: 2, warning: 1 };

const state = {
  items: new Map(), // id → item (live)
  markers: new Map(), // id → L.Marker
  replay: null, // Map id → item while replaying, else null
  area: "", // the area filter: a code at any level, "" for the whole province
  selected: "",
  known: new Set(), // alarm ids seen, to tell new ones
  away: null, // while the live connection is lost: the alarm ids known when it went (a Set), else null
  alarms: new Map(), // id → alarm as a map item: every open alarm, in view or not
  units: new Map(), // code → {name, type, layer}: the outlines drawn (the lowest level of the data)
  fitted: false,
};

const map = L.map("map", { zoomControl: true, attributionControl: true, minZoom: 4, maxZoom: 19 }).setView([10.2, 106.4], 10);
const groups = Object.fromEntries([...LAYERS, "cluster"].map((k) => [k, L.layerGroup().addTo(map)]));
const shown = new Set(LAYERS);

const conn = document.getElementById("conn");
function setConn(s) {
  if (s === "off" && !state.away) state.away = new Set(state.known);
  else if (s === "on" && state.away) {
    // Frames sent while the map was away are gone: ask the store for every alarm that still needs an
    // operator, and say how many were raised meanwhile.
    const before = state.away;
    state.away = null;
    loadAlarms(before);
  }
  conn.dataset.state = s;
  conn.className = "conn " + (s === "on" ? "on" : "off");
  conn.textContent = t("conn." + s);
}

// Base map: a configured tile server, or the outlines of the lowest level (communes) drawn as vectors.
async function base() {
  const ui = await uiConfig();
  if (ui.tile_url) {
    L.tileLayer(ui.tile_url, { attribution: ui.tile_attribution || "", maxZoom: 19 }).addTo(map);
  }
  const fc = await boundaries(ui.admin_file);
  const layer = L.geoJSON(fc, {
    style: () => ({ color: "#38bdf8", weight: 1.5, fillColor: "#1e3a5f", fillOpacity: ui.tile_url ? 0.05 : 0.55 }),
    onEachFeature: (f, lyr) => {
      const p = f.properties || {};
      state.units.set(p.code, { name: p.name, type: p.type || "", layer: lyr });
      lyr.bindTooltip(p.name, { sticky: true, className: "area-tip" });
      if (lyr.getElement) lyr.on("add", () => lyr.getElement()?.setAttribute("data-area", p.code));
    },
  }).addTo(map);
  layer.bringToBack();
  for (const l of layer.getLayers()) l.getElement()?.setAttribute("data-area", l.feature.properties.code);
  unitTexts(fc);
  applyTexts(document.querySelector("label.area"));
  fillAreaOptions("");
  if (hashView) map.setView([Number(hashView[2]), Number(hashView[3])], Number(hashView[1]));
  else if (layer.getLayers().length) map.fitBounds(layer.getBounds());
  document.body.dataset.boundaries = String(layer.getLayers().length);
}

function isCluster(it) {
  return it.type === "cluster" || it.kind === "cluster";
}

// clusterItem turns a server cluster {id, count, kinds, severity, bbox, center} into a map item.
function clusterItem(c) {
  return { id: "cluster:" + c.id, type: "cluster", kind: "cluster", count: c.count, counts: c.kinds, severity: c.severity,
    bbox: c.bbox, location: c.center || c.location };
}

function clusterCount(it) {
  if (typeof it.count === "number") return it.count;
  if (it.counts) return Object.values(it.counts).reduce((a, b) => a + b, 0);
  return it.values?.count ?? 0;
}

function severityOf(it) {
  return it.attrs?.severity || it.severity || it.worst_severity || "";
}

function layerOf(it) {
  if (isCluster(it)) return "cluster";
  return LAYERS.includes(it.type) ? it.type : "telemetry";
}

function visible(it) {
  if (!it.location) return false;
  if (it.type === "alarm" && !String(it.attrs?.state || "").startsWith("active")) return false;
  if (state.area && !isCluster(it) && !inArea(it.areas, state.area)) return false;
  return isCluster(it) || shown.has(layerOf(it));
}

function iconFor(it) {
  const layer = layerOf(it);
  let cls = "mk mk-" + layer;
  let html = "";
  let size = 14;
  if (layer === "cluster") {
    const n = clusterCount(it);
    size = n >= 1000 ? 44 : n >= 100 ? 36 : 28;
    cls += " sz-" + size;
    html = String(n);
    const sev = severityOf(it);
    if (sev) cls += " sev-" + sev;
  } else if (layer === "alarm") {
    cls += " sev-" + severityOf(it);
    size = 18;
    cls += " sz-18";
  } else if (layer === "telemetry") {
    cls += " kind-" + it.kind;
  } else if (layer === "report") {
    cls += " st-" + (it.attrs?.status || "new");
  }
  if (state.replay) cls += " replaying";
  return L.divIcon({
    className: "",
    // Sizes come from classes: the page's CSP allows no inline style.
    html: `<div class="${cls}" data-id="${escapeAttr(it.id)}" data-layer="${layer}">${html}</div>`,
    iconSize: [size, size],
  });
}

function escapeAttr(s) {
  return String(s).replace(/[&"<>]/g, (c) => ({ "&": "&amp;", '"': "&quot;", "<": "&lt;", ">": "&gt;" })[c]);
}

function draw(it) {
  const old = state.markers.get(it.id);
  if (old) {
    old.remove();
    state.markers.delete(it.id);
  }
  if (!visible(it)) return;
  const m = L.marker([it.location[1], it.location[0]], { icon: iconFor(it), keyboard: true, title: it.name || it.id });
  m.on("click", () => (isCluster(it) ? zoomInto(it) : select(it.id)));
  m.addTo(groups[layerOf(it)]);
  state.markers.set(it.id, m);
}

function zoomInto(it) {
  const b = it.bbox;
  if (Array.isArray(b) && b.length === 4 && (b[2] - b[0] > 1e-6 || b[3] - b[1] > 1e-6)) {
    map.fitBounds([
      [b[1], b[0]],
      [b[3], b[2]],
    ], { maxZoom: map.getZoom() + 4, padding: [30, 30] });
  } else {
    map.setView([it.location[1], it.location[0]], map.getZoom() + 2);
  }
}

function current() {
  return state.replay || state.items;
}

function redrawAll() {
  for (const m of state.markers.values()) m.remove();
  state.markers.clear();
  for (const it of current().values()) draw(it);
  counts();
  renderAlarms();
}

// counts fills the legend: single entities by layer, and the entities inside server clusters by the
// kinds the server counted (camera, alarm and report are layers; every other kind is a sensor).
function counts() {
  const n = Object.fromEntries(LAYERS.map((k) => [k, 0]));
  for (const it of current().values()) {
    if (isCluster(it)) {
      for (const [kind, c] of Object.entries(it.counts || {})) {
        const layer = LAYERS.includes(kind) ? kind : "telemetry";
        if (shown.has(layer)) n[layer] += c;
      }
    } else if (visible({ ...it, location: it.location || [0, 0] })) n[layerOf(it)]++;
  }
  for (const k of LAYERS) document.getElementById("n-" + k).textContent = n[k];
}

// Live frames.
let dirty = false;
const changed = new Set();
function apply(f) {
  document.body.dataset.viewport = live.viewport === true ? "subscribed" : live.viewport === false ? "all" : "pending";
  if (f.type === "snapshot") {
    state.items.clear();
    changed.clear();
    for (const m of state.markers.values()) m.remove();
    state.markers.clear();
  }
  const leave = f.leave || (f.type === "leave" ? f.ids || (f.items || []).map((i) => i.id) : []);
  for (const id of leave) {
    state.items.delete(id);
    changed.add(id);
  }
  if (f.clusters || f.type === "clusters" || f.mode === "clusters") {
    // Clusters replace the earlier ones (and, at low zoom, the single entities).
    for (const [id, it] of state.items) {
      if (isCluster(it) || f.mode === "clusters") {
        state.items.delete(id);
        changed.add(id);
      }
    }
    for (const c of f.clusters || []) {
      const it = clusterItem(c);
      state.items.set(it.id, it);
      changed.add(it.id);
    }
  }
  if (f.type === "snapshot" || f.type === "update") {
    for (const it of f.items || []) {
      const prev = state.items.get(it.id);
      state.items.set(it.id, it);
      changed.add(it.id);
      if (it.type === "alarm") noteAlarm(it, f.type === "snapshot" && !state.alarmsLoaded);
    }
  }
  if (!dirty) {
    dirty = true;
    requestAnimationFrame(flush);
  }
}

function flush() {
  dirty = false;
  if (!state.replay) {
    for (const id of changed) {
      const it = state.items.get(id);
      if (it) draw(it);
      else {
        state.markers.get(id)?.remove();
        state.markers.delete(id);
      }
    }
  }
  changed.clear();
  counts();
  renderAlarms();
  if (state.selected && (state.items.has(state.selected) || state.alarms.has(state.selected)) && !state.replay) refreshPanel();
  if (!state.fitted && !state.userMoved) fitToItems();
}

function fitToItems() {
  const pts = [...state.items.values()].filter((i) => i.location).map((i) => [i.location[1], i.location[0]]);
  if (pts.length) {
    state.fitted = true;
    map.fitBounds(pts, { maxZoom: 12, padding: [20, 20] });
  }
}

// New critical alarms: a banner and a tone generated with WebAudio (no sound file).
let audio = null;
document.addEventListener("pointerdown", () => {
  if (!audio && window.AudioContext) audio = new AudioContext();
});
// noteAlarm keeps the alarm list (which covers the whole province, not only the viewport).
function noteAlarm(it, initial) {
  const prev = state.alarms.get(it.id);
  if (prev && Date.parse(prev.ts) > Date.parse(it.ts)) return; // an older state arriving late
  state.alarms.set(it.id, it);
  cue(it, initial);
}

// alarmItem turns an alarm of GET /api/v1/alarms into the live item shape.
function alarmItem(a) {
  return { id: a.id, type: "alarm", kind: "alarm", ts: a.updated_at || a.raised_at, location: a.location || null, areas: a.areas || {},
    attrs: { rule: a.rule, name: a.name, source: a.source, severity: a.severity, state: a.state, assignee: a.assignee || "" },
    values: a.field ? { [a.field]: a.value } : {} };
}

// needsOperator: an alarm stays on the list until an operator has acknowledged it, even when its
// condition cleared by itself (cleared_unack) — also one raised and cleared while the map was away.
function needsOperator(it) {
  const s = String(it.attrs?.state || "");
  return s.startsWith("active") || s === "cleared_unack";
}

// loadAlarms reads every alarm that still needs an operator (state=attention). After a lost
// connection, knownBefore holds the alarm ids the page knew when it went: the others get a banner.
async function loadAlarms(knownBefore) {
  const afterOutage = knownBefore instanceof Set;
  try {
    const r = await api("/api/v1/alarms?state=attention&limit=1000");
    const list = Array.isArray(r) ? r : r.alarms || [];
    const open = new Set();
    const missed = [];
    for (const a of list) {
      open.add(a.id);
      if (afterOutage && !knownBefore.has(a.id)) missed.push(a);
      const live = state.items.get(a.id);
      noteAlarm(live && live.ts >= (a.updated_at || "") ? live : alarmItem(a), !state.alarmsLoaded || afterOutage);
    }
    for (const [id, it] of state.alarms) {
      if (!open.has(id) && needsOperator(it) && !state.items.has(id)) state.alarms.delete(id);
    }
    state.alarmsLoaded = true;
    renderAlarms();
    if (missed.length) missedBanner(missed);
  } catch (err) {
    console.error("alarms", err);
  }
}

function missedBanner(missed) {
  const banner = document.getElementById("alert");
  banner.hidden = false;
  const names = missed.slice(0, 3).map((a) => bi(a.name) || a.rule || a.id);
  banner.textContent = `${missed.length} ${t("alarm.while_away")}: ${names.join(", ")}${missed.length > 3 ? "…" : ""}`;
  banner.classList.remove("flash");
  void banner.offsetWidth;
  banner.classList.add("flash");
  document.body.dataset.missedAlarms = String(missed.length);
  if (missed.some((a) => a.severity === "critical")) beep();
}

function cue(it, initial) {
  const isNew = !state.known.has(it.id);
  state.known.add(it.id);
  if (initial || !isNew) return;
  if (severityOf(it) !== "critical" || it.attrs?.state !== "active_unack") return;
  const banner = document.getElementById("alert");
  banner.hidden = false;
  banner.textContent = t("alarm.new_critical") + ": " + (bi(it.attrs?.name) || it.attrs?.rule || it.id);
  banner.classList.remove("flash");
  void banner.offsetWidth;
  banner.classList.add("flash");
  document.body.dataset.lastCritical = it.id;
  beep();
}

function beep() {
  if (!audio) return; // browsers allow sound only after the operator has touched the page
  document.body.dataset.beeps = String(Number(document.body.dataset.beeps || 0) + 1);
  const now = audio.currentTime;
  for (let i = 0; i < 3; i++) {
    const o = audio.createOscillator();
    const g = audio.createGain();
    o.type = "square";
    o.frequency.value = i % 2 ? 660 : 880;
    g.gain.setValueAtTime(0.0001, now + i * 0.25);
    g.gain.exponentialRampToValueAtTime(0.2, now + i * 0.25 + 0.02);
    g.gain.exponentialRampToValueAtTime(0.0001, now + i * 0.25 + 0.2);
    o.connect(g).connect(audio.destination);
    o.start(now + i * 0.25);
    o.stop(now + i * 0.25 + 0.22);
  }
}

// Alarm list.
function renderAlarms() {
  const list = document.getElementById("alarm-list");
  const source = state.replay ? [...state.replay.values()].filter((i) => i.type === "alarm") : [...state.alarms.values()];
  const alarms = source
    .filter(needsOperator)
    .filter((i) => inArea(i.areas, state.area))
    .sort((a, b) => (SEVERITY[severityOf(b)] || 0) - (SEVERITY[severityOf(a)] || 0) || String(b.ts).localeCompare(String(a.ts)));
  document.getElementById("alarm-count").textContent = alarms.length;
  if (!alarms.length) {
    list.replaceChildren(el("li", { class: "none" }, t("alarms.none")));
    return;
  }
  list.replaceChildren(
    ...alarms.slice(0, 200).map((a) =>
      el(
        "li",
        { class: "sev-" + severityOf(a) + " " + a.attrs?.state, dataset: { id: a.id } },
        el(
          "button",
          { type: "button", onclick: () => select(a.id, true) },
          el("b", {}, t("sev." + severityOf(a))),
          " ",
          bi(a.attrs?.name) || a.attrs?.rule,
          el("small", {}, " · ", a.attrs?.source, " · ", t("state." + a.attrs?.state), " · ", when(a.ts)),
        ),
      ),
    ),
  );
}

// Side panel.
const panel = document.getElementById("panel");
const body = document.getElementById("panel-body");
document.getElementById("panel-close").addEventListener("click", () => {
  panel.hidden = true;
  state.selected = "";
});

function select(id, pan) {
  state.selected = id;
  const it = current().get(id) || state.alarms.get(id);
  if (!it) return;
  if (pan && it.location) map.panTo([it.location[1], it.location[0]]);
  panel.hidden = false;
  panel.dataset.id = id;
  renderPanel(it, true);
}

function refreshPanel() {
  const it = state.alarms.get(state.selected) || state.items.get(state.selected);
  if (it && it.type === "alarm") renderPanel(it, false);
  else if (it) {
    const vals = document.getElementById("panel-values");
    if (vals) vals.replaceWith(valuesTable(it));
  }
}

function valuesTable(it) {
  const rows = Object.entries(it.values || {}).map(([k, v]) =>
    el("tr", { dataset: { field: k } }, el("th", {}, fieldLabel(k)), el("td", {}, [num(v, 2), fieldUnit(k)].filter(Boolean).join(" "))),
  );
  return el("table", { id: "panel-values", class: "vals" }, rows);
}

function renderPanel(it, fresh) {
  const head = [
    el("h2", {}, it.name || bi(it.attrs?.name) || it.id),
    el("p", { class: "muted" }, t("panel.kind"), ": ", it.kind, " · ", it.id),
    el("p", { class: "muted" }, t("panel.time"), ": ", when(it.ts)),
  ];
  const unit = Object.values(it.areas || {}).find((code) => state.units.has(code));
  if (unit) head.push(el("p", { class: "muted" }, t("panel.areas"), ": ", state.units.get(unit).name));
  const parts = [...head];
  if (it.type === "telemetry") {
    parts.push(el("h3", {}, t("panel.values")), valuesTable(it), el("h3", {}, t("panel.history")));
    const box = el("div", { class: "sparks" });
    parts.push(box);
    if (fresh) loadSparks(it, box);
  } else if (it.type === "camera") {
    parts.push(valuesTable(it));
    const url = it.attrs?.snapshot_url;
    parts.push(
      url && /^https?:\/\//.test(url)
        ? el("p", {}, el("a", { href: url, target: "_blank", rel: "noopener", id: "snapshot" }, t("panel.snapshot")))
        : el("p", { class: "muted" }, t("panel.no_snapshot")),
    );
  } else if (it.type === "alarm") {
    parts.push(alarmActions(it));
  } else if (it.type === "report") {
    const box = el("div", { id: "report-box" });
    parts.push(box);
    loadReport(it, box);
  }
  if (!fresh && it.type !== "alarm") return;
  // A refresh of an alarm's panel (a live update, the reloaded alarm list) keeps what the operator is
  // typing: the note and the assignee would otherwise be emptied between typing and clicking.
  const typed = fresh ? [] : ["alarm-note", "alarm-assignee"].map((k) => document.getElementById(k)).filter(Boolean);
  const focused = fresh ? "" : document.activeElement?.id || "";
  body.replaceChildren(...parts);
  for (const old of typed) {
    const now = document.getElementById(old.id);
    if (now) now.value = old.value;
  }
  if (focused) document.getElementById(focused)?.focus();
}

async function loadSparks(it, box) {
  const to = new Date();
  const from = new Date(to.getTime() - 24 * 3600e3);
  for (const field of Object.keys(it.values || {})) {
    const q = new URLSearchParams({ device: it.id, field, from: iso(from), to: iso(to), every: "15m", agg: "mean" });
    try {
      const r = await api("/api/v1/readings?" + q);
      const xs = r.samples.map((s) => new Date(s.ts).getTime() / 1000);
      const ys = r.samples.map((s) => s.value);
      const cell = el("div", { class: "spark", dataset: { field } }, el("span", {}, [fieldLabel(field), fieldUnit(field) && `(${fieldUnit(field)})`].filter(Boolean).join(" ")));
      box.append(cell);
      sparkline(cell, xs, ys);
    } catch (err) {
      box.append(el("p", { class: "err" }, field, ": ", err.message));
    }
  }
}

function iso(d) {
  // RFC 3339 with the Vietnam offset, as the API expects an offset.
  const local = new Date(d.getTime() + 7 * 3600e3);
  return local.toISOString().replace(/Z$/, "+07:00"); // keep the milliseconds: a "to" rounded down would miss the newest reading
}

function alarmActions(it) {
  const id = it.id;
  const msg = el("p", { class: "msg", role: "status" });
  const note = el("input", { id: "alarm-note", type: "text", "aria-label": t("alarm.note"), placeholder: t("alarm.note") });
  const who = el("input", { id: "alarm-assignee", type: "text", "aria-label": t("alarm.assignee"), placeholder: t("alarm.assignee") });
  const act = (what, extra) => async () => {
    msg.textContent = "…";
    try {
      const r = await api(`/api/v1/alarms/${encodeURIComponent(id)}/${what}`, { json: { note: note.value, ...extra } });
      if (r?.alarm) {
        // The answer is the alarm's new state; the live feed confirms it when the alarm is in view.
        const live = state.items.get(id);
        state.alarms.set(id, { ...alarmItem(r.alarm), location: r.alarm.location || live?.location || null });
        renderAlarms();
        if (state.selected === id) renderPanel(state.alarms.get(id), false);
      }
      msg.textContent = t("done");
      msg.className = "msg ok";
    } catch (err) {
      msg.textContent = t("error") + ": " + err.message;
      msg.className = "msg err";
    }
  };
  const stateNow = it.attrs?.state || "";
  return el(
    "div",
    { class: "actions" },
    el("p", {}, t("alarm.severity"), ": ", el("b", { class: "sev-" + severityOf(it) }, t("sev." + severityOf(it)))),
    el("p", {}, t("alarm.state"), ": ", el("b", { id: "alarm-state" }, t("state." + stateNow))),
    it.attrs?.assignee ? el("p", {}, t("alarm.assignee"), ": ", it.attrs.assignee) : null,
    valuesTable(it),
    note,
    el("div", { class: "btns" },
      el("button", { type: "button", id: "alarm-ack", disabled: !stateNow.endsWith("unack"), onclick: act("ack") }, t("alarm.ack")),
      el("button", { type: "button", id: "alarm-clear", disabled: !stateNow.startsWith("active"), onclick: act("clear") }, t("alarm.clear")),
    ),
    who,
    el("button", { type: "button", id: "alarm-assign", onclick: () => act("assign", { assignee: who.value })() }, t("alarm.assign")),
    msg,
  );
}

const STATUSES = ["triaged", "assigned", "in_progress", "resolved", "closed", "reopened", "duplicate", "rejected"];

async function loadReport(it, box) {
  const num = String(it.id).replace(/^report-/, "");
  const msg = el("p", { class: "msg", role: "status" });
  let r;
  try {
    r = await api("/api/v1/reports/" + encodeURIComponent(num));
  } catch (err) {
    box.replaceChildren(el("p", { class: "err" }, err.message));
    return;
  }
  const rep = r.report || r;
  const to = el("select", { id: "report-to", "aria-label": t("report.to") }, STATUSES.map((s) => el("option", { value: s }, t("st." + s))));
  const unit = el("input", { id: "report-unit", type: "text", "aria-label": t("report.unit"), placeholder: t("report.unit"), value: rep.unit || "" });
  const note = el("input", { id: "report-note", type: "text", "aria-label": t("alarm.note"), placeholder: t("alarm.note") });
  const publicNote = el("input", { id: "report-public-note", type: "checkbox" }); // notes are internal unless ticked
  box.replaceChildren(
    el("p", {}, t("report.category"), ": ", bi(rep.service_name || it.attrs?.category_name || rep.service_code)),
    el("p", {}, t("report.status"), ": ", el("b", { id: "report-status" }, t("st." + rep.status))),
    rep.description ? el("p", { class: "desc" }, rep.description) : null,
    el("p", { class: "muted" }, t("report.due"), ": ", when(rep.due)),
    el("label", {}, t("report.to"), " ", to),
    unit,
    note,
    el("label", {}, publicNote, " ", t("report.public_note")),
    el(
      "button",
      {
        type: "button",
        id: "report-move",
        onclick: async () => {
          try {
            await api(`/api/v1/reports/${num}/transition`, { json: { to: to.value, note: note.value, public_note: publicNote.checked, unit: unit.value || undefined } });
            msg.textContent = t("done");
            msg.className = "msg ok";
            loadReport(it, box);
          } catch (err) {
            msg.textContent = t("error") + ": " + err.message;
            msg.className = "msg err";
          }
        },
      },
      t("report.move"),
    ),
    msg,
  );
}

// Layer toggles, area filter, viewport subscription.
for (const cb of document.querySelectorAll("[data-layer]")) {
  cb.addEventListener("change", () => {
    if (cb.checked) shown.add(cb.dataset.layer);
    else shown.delete(cb.dataset.layer);
    redrawAll();
    subscribe();
  });
}

// fillAreaOptions lists the units whose name holds the search text (all for none), by name; the
// chosen one stays listed.
function fillAreaOptions(query) {
  const sel = document.getElementById("area");
  const q = fold(query.trim());
  const opts = [...state.units.entries()]
    .filter(([code, u]) => !q || code === state.area || fold(u.name).includes(q) || code.startsWith(q))
    .sort((a, b) => a[1].name.localeCompare(b[1].name, "vi"));
  sel.replaceChildren(sel.options[0], ...opts.map(([code, u]) => el("option", { value: code }, u.name)));
  sel.value = state.area;
  sel.dataset.count = String(opts.length);
}

document.getElementById("area-q").addEventListener("input", (e) => {
  fillAreaOptions(e.target.value);
  const sel = document.getElementById("area");
  if (sel.options.length === 2 && e.target.value.trim()) { // one match: choose it
    sel.value = sel.options[1].value;
    sel.dispatchEvent(new Event("change"));
  }
});

document.getElementById("area").addEventListener("change", (e) => {
  state.area = e.target.value;
  const d = state.units.get(state.area);
  state.userMoved = true;
  if (d) map.fitBounds(d.layer.getBounds(), { animate: false }); // at once: a view asked for by link right after wins
  redrawAll();
});

const live = new Live({ onFrame: apply, onStatus: setConn });
let subTimer = 0;
function subscribe() {
  clearTimeout(subTimer);
  subTimer = setTimeout(() => {
    const b = map.getBounds();
    const bbox = [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map((v) => Math.round(v * 1e5) / 1e5);
    live.subscribe(bbox, Math.round(map.getZoom()), [...shown].map((l) => SUB_LAYER[l]));
  }, 120);
}
map.on("moveend", () => {
  subscribe();
  const c = map.getCenter();
  history.replaceState(null, "", `#${map.getZoom()}/${c.lat.toFixed(5)}/${c.lng.toFixed(5)}`);
});
// A link may carry the view: /#zoom/lat/lon.
const HASH = /^#(\d{1,2})\/(-?[\d.]+)\/(-?[\d.]+)$/;
const hashView = HASH.exec(location.hash);
window.addEventListener("hashchange", () => {
  const v = HASH.exec(location.hash);
  if (v) map.setView([Number(v[2]), Number(v[3])], Number(v[1]));
});
for (const ev of ["mousedown", "wheel", "touchstart", "keydown"]) {
  map.getContainer().addEventListener(ev, () => (state.userMoved = true), { once: true, passive: true });
}

// Replay: the state of alarms, reports and cameras at a past time from the stored events.
const slider = document.getElementById("replay");
const at = document.getElementById("replay-at");
let replayTimer = 0;
slider.addEventListener("input", () => {
  clearTimeout(replayTimer);
  const mins = Number(slider.value);
  if (mins === 0) return goLive();
  at.textContent = t("replay.at") + " " + when(new Date(Date.now() + mins * 60e3).toISOString());
  replayTimer = setTimeout(() => replay(mins), 200);
});
document.getElementById("replay-live").addEventListener("click", () => {
  slider.value = "0";
  goLive();
});

async function replay(mins) {
  const to = new Date(Date.now() + mins * 60e3);
  const from = new Date(Date.now() - 24 * 3600e3);
  const r = await api("/api/v1/events?" + new URLSearchParams({ from: iso(from), to: iso(to) }));
  const past = new Map();
  for (const it of state.items.values()) {
    if (it.type === "telemetry") past.set(it.id, { ...it, values: {} });
  }
  const seen = new Set();
  for (const ev of r.events || []) {
    if (seen.has(ev.id)) continue; // newest first: the first event of an entity is its state at `to`
    seen.add(ev.id);
    past.set(ev.id, ev);
  }
  state.replay = past;
  document.body.classList.add("replay");
  redrawAll();
}

function goLive() {
  state.replay = null;
  at.textContent = t("replay.live");
  document.body.classList.remove("replay");
  redrawAll();
}

setupLangButton(document.getElementById("lang"));
onLang(() => {
  setConn(conn.dataset.state);
  renderAlarms();
  if (state.selected) select(state.selected);
});
applyTexts();
document.getElementById("logout").addEventListener("click", signOut);
signedIn()
  .then(base)
  .then(() => {
    state.boundsKnown = true;
  })
  .catch((err) => {
    document.body.dataset.boundaries = "error";
    console.error("boundaries", err);
  })
  .finally(() => {
    if (hashView) {
      state.userMoved = true;
      map.setView([Number(hashView[2]), Number(hashView[3])], Number(hashView[1]));
    }
    live.connect();
    subscribe();
    loadAlarms();
    setInterval(() => loadAlarms(), 10000);
  });
