// Leader KPI screen (/kpi): large cards, a choropleth of the lowest level (communes), trend charts and tables, all from
// GET /api/v1/kpi; it refreshes itself every 15 seconds.
import L from "leaflet";
import "leaflet/dist/leaflet.css";
import "./base.css";
import "./kpi.css";
import { addTexts, api, applyTexts, bi, boundaries, duration, el, filterSelect, num, onLang, setupLangButton, signOut, signedIn, t, uiConfig, unitTexts, when } from "./common.js";
import { lines } from "./spark.js";

addTexts({
  vi: {
    "k.title": "Chỉ số điều hành", "k.updated": "Cập nhật", "k.csv": "Tải CSV", "k.received": "Phản ánh nhận", "k.resolved": "Đã xử lý",
    "k.today": "Hôm nay", "k.7d": "7 ngày", "k.30d": "30 ngày", "k.backlog": "Tồn đọng", "k.overdue": "Quá hạn", "k.sla": "Đúng hạn (SLA)",
    "k.median": "Trung vị xử lý", "k.alarms": "Cảnh báo đang mở", "k.mtta": "TG xác nhận TB", "k.sensors": "Cảm biến trực tuyến",
    "k.choro": "Tồn đọng theo đơn vị hành chính", "k.trend": "Xu hướng phản ánh theo ngày", "k.trend_alarms": "Cảnh báo theo ngày",
    "k.by_area": "Theo đơn vị hành chính", "k.by_category": "Theo lĩnh vực", "k.maxima": "Giá trị cao nhất mới nhất",
    "k.cat": "Lĩnh vực", "k.h": "giờ", "k.min": "phút", "k.of": "trên", "k.outside": "Ngoài địa bàn",
    "k.salinity": "Độ mặn (‰)", "k.water_level": "Mực nước (m)", "k.pm25": "PM2.5 (µg/m³)", "k.raised": "Cảnh báo phát sinh",
  },
  en: {
    "k.title": "Operations KPIs", "k.updated": "Updated", "k.csv": "Download CSV", "k.received": "Reports received", "k.resolved": "Resolved",
    "k.today": "Today", "k.7d": "7 days", "k.30d": "30 days", "k.backlog": "Backlog", "k.overdue": "Overdue", "k.sla": "Within SLA",
    "k.median": "Median time to resolve", "k.alarms": "Active alarms", "k.mtta": "Mean time to ack", "k.sensors": "Sensors online",
    "k.choro": "Backlog by administrative unit", "k.trend": "Reports per day", "k.trend_alarms": "Alarms per day",
    "k.by_area": "By administrative unit", "k.by_category": "By category", "k.maxima": "Latest maxima",
    "k.cat": "Category", "k.h": "h", "k.min": "min", "k.of": "of", "k.outside": "Outside",
    "k.salinity": "Salinity (‰)", "k.water_level": "Water level (m)", "k.pm25": "PM2.5 (µg/m³)", "k.raised": "Alarms raised",
  },
});

const $ = (id) => document.getElementById(id);
const names = new Map(); // area code → name (the outlines drawn: the lowest level of the data)
let catNames = new Map();
let data = null;
let choroLayer = null;
const choro = L.map("choro", { zoomControl: false, attributionControl: false, dragging: false, scrollWheelZoom: false });
choro.setView([10.2, 106.4], 9);
const COLORS = ["#1e3a5f", "#1d4ed8", "#7c3aed", "#c026d3", "#e11d48"];

function set(id, v) {
  $(id).textContent = v;
}

function areaName(code) {
  if (code === "outside" || code === "unknown") return t("k.outside");
  return names.get(code) || code;
}

function hours(h) {
  return h ? num(h, 1) + " " + t("k.h") : "—";
}

function render() {
  if (!data) return;
  const r = data.reports;
  for (const w of ["today", "7d", "30d"]) {
    set("rec-" + w, num(r.windows[w]?.received ?? 0, 0));
    set("res-" + w, num(r.windows[w]?.resolved ?? 0, 0));
  }
  set("backlog", num(r.backlog, 0));
  set("overdue", num(r.overdue, 0));
  set("sla", r.resolved ? num(r.within_sla_pct, 0) + "%" : "—");
  set("median", hours(r.median_resolution_h));
  const a = data.alarms;
  $("sevs").replaceChildren(
    ...["critical", "major", "minor", "warning"].map((s) =>
      el("div", { class: "sev-" + s }, el("b", { id: "sev-" + s }, num(a.active_by_severity[s] || 0, 0)), el("span", {}, t("sev." + s))),
    ),
  );
  set("mtta", a.acked ? duration(a.mean_time_to_ack_s) : "—");
  set("online", data.sensors.total ? num(data.sensors.online_pct, 0) + "%" : "—");
  set("online-n", `${num(data.sensors.online, 0)} ${t("k.of")} ${num(data.sensors.total, 0)}`);
  set("updated", when(data.generated));

  const head = (...cols) => el("tr", {}, cols.map((c) => el("th", {}, c)));
  const rowOf = (label, k) =>
    el("tr", { dataset: { key: k.key } }, el("td", {}, label), el("td", {}, num(k.received, 0)), el("td", {}, num(k.resolved, 0)),
      el("td", {}, num(k.backlog, 0)), el("td", {}, k.resolved ? num(k.within_sla_pct, 0) + "%" : "—"), el("td", {}, hours(k.median_resolution_h)));
  const cols = [t("k.received"), t("k.resolved"), t("k.backlog"), t("k.sla"), t("k.median")];
  $("t-area").replaceChildren(head(t("area.label"), ...cols), ...(r.by_area || []).map((k) => rowOf(areaName(k.key), k)));
  $("t-category").replaceChildren(head(t("k.cat"), ...cols), ...(r.by_category || []).map((k) => rowOf(bi(catNames.get(k.key) || k.key), k)));
  const fields = ["salinity", "water_level", "pm25"];
  $("t-maxima").replaceChildren(
    head(t("area.label"), ...fields.map((f) => t("k." + f))),
    ...(data.maxima || []).map((m) =>
      el("tr", { dataset: { key: m.area } }, el("td", {}, areaName(m.area)),
        fields.map((f) => el("td", { title: m.fields[f]?.device || "" }, m.fields[f] ? num(m.fields[f].value, 2) : "—"))),
    ),
  );
  paintChoro();
  drawTrends();
}

function paintChoro() {
  if (!choroLayer) return;
  const backlog = new Map((data.reports.by_area || []).map((k) => [k.key, k.backlog]));
  const max = Math.max(1, ...backlog.values());
  choroLayer.eachLayer((l) => {
    const code = l.feature.properties.code;
    const v = backlog.get(code) || 0;
    const c = COLORS[Math.min(COLORS.length - 1, Math.ceil((v / max) * (COLORS.length - 1)))];
    l.setStyle({ fillColor: c, fillOpacity: 0.85, color: "#94a3b8", weight: 1 });
    l.bindTooltip(`${l.feature.properties.name}: ${num(v, 0)}`);
    l.getElement()?.setAttribute("data-backlog", String(v));
  });
  $("choro-legend").replaceChildren("0", ...COLORS.map((_, i) => el("i", { class: "c" + i })), num(max, 0));
}

let charts = [];
function drawTrends() {
  for (const c of charts) c.destroy();
  charts = [];
  const days = data.trend || [];
  const xs = days.map((d) => new Date(d.day + "T00:00:00+07:00").getTime() / 1000);
  const width = Math.max(300, $("trend").clientWidth || 500);
  $("trend").replaceChildren();
  $("trend-alarms").replaceChildren();
  charts.push(
    lines($("trend"), xs, [
      { label: t("k.received"), color: "#38bdf8", values: days.map((d) => d.received) },
      { label: t("k.resolved"), color: "#4ade80", values: days.map((d) => d.resolved) },
    ], { width, height: 180, xLabel: t("panel.time") }),
    lines($("trend-alarms"), xs, [{ label: t("k.raised"), color: "#f87171", values: days.map((d) => d.alarms_raised) }], { width, height: 120, xLabel: t("panel.time") }),
  );
}

// fillAreas offers the units drawn (the lowest level), or to an operator scoped to areas only those (codes at
// any level): the KPI API answers them for one of their areas at a time, so they get no "whole
// province" and the page always sends area=, the first of theirs to begin with.
// The search box above narrows the list by name (diacritics optional); one match is chosen.
let areaEntries = [];
function fillAreas(own) {
  const codes = own.length ? own : [...names.keys()];
  areaEntries = codes.map((code) => [code, names.get(code) || code]).sort((a, b) => a[1].localeCompare(b[1], "vi"));
  if (own.length) $("area").replaceChildren();
  filterSelect($("area"), areaEntries, "");
}

function searchAreas() {
  const query = $("area-q").value;
  filterSelect($("area"), areaEntries, query);
  const matches = [...$("area").options].filter((o) => o.value !== "");
  if (query.trim() && matches.length === 1 && $("area").value !== matches[0].value) {
    $("area").value = matches[0].value;
    load();
  }
}

async function load() {
  const area = $("area").value;
  const q = new URLSearchParams(area ? { area } : {});
  $("csv").href = "/api/v1/kpi?" + new URLSearchParams({ ...(area ? { area } : {}), format: "csv" });
  try {
    data = await api("/api/v1/kpi?" + q);
    document.body.dataset.loaded = String(Date.now());
    render();
  } catch (err) {
    set("updated", t("error") + ": " + err.message);
  }
}

async function init() {
  setupLangButton($("lang"));
  onLang(render);
  applyTexts();
  $("logout").addEventListener("click", signOut);
  const me = await signedIn();
  try {
    const cat = await api("/api/v1/reports/services");
    catNames = new Map((cat.Services || cat.services || []).map((s) => [s.Code ?? s.code, s.Name ?? s.name]));
  } catch {
    // names fall back to codes
  }
  try {
    const fc = await boundaries((await uiConfig()).admin_file);
    for (const f of fc.features) names.set(f.properties.code, f.properties.name);
    const types = unitTexts(fc).toLocaleLowerCase("vi");
    if (types) addTexts({ vi: { "k.choro": "Tồn đọng theo " + types, "k.by_area": "Theo " + types } });
    applyTexts();
    choroLayer = L.geoJSON(fc).addTo(choro);
    if (choroLayer.getLayers().length) choro.fitBounds(choroLayer.getBounds());
  } catch {
    // the choropleth stays empty; the numbers still show
  }
  fillAreas(me.areas || []);
  $("area").addEventListener("change", load);
  $("area-q").addEventListener("input", searchAreas);
  await load();
  setInterval(load, 15000);
  document.addEventListener("visibilitychange", () => document.visibilityState === "visible" && load());
}
init();
