// Citizen report page (/report): mobile first, every control labelled and reachable by keyboard.
import L from "leaflet";
import "leaflet/dist/leaflet.css";
import "./base.css";
import "./citizen.css";
import { addTexts, api, applyTexts, bi, boundaries, el, num, onLang, setupLangButton, t, uiConfig } from "./common.js";

addTexts({
  vi: {
    "r.title": "Phản ánh hiện trường",
    "r.intro": "Gửi phản ánh về sự cố nơi bạn sống. Các mục có dấu * là bắt buộc.",
    "r.category": "Lĩnh vực",
    "r.choose": "— Chọn lĩnh vực —",
    "r.description": "Mô tả",
    "r.location": "Vị trí",
    "r.gps": "Dùng vị trí GPS của tôi",
    "r.tap": "Hoặc chạm vào bản đồ để chọn vị trí, hoặc nhập tọa độ.",
    "r.lat": "Vĩ độ",
    "r.lon": "Kinh độ",
    "r.nearby": "Đã có phản ánh tương tự ở gần đây",
    "r.nearby_hint": "Nếu là cùng một sự việc, bạn không cần gửi lại.",
    "r.nearby_confirm": "Đã có phản ánh tương tự gần đây. Nếu vẫn muốn gửi, nhấn “Gửi phản ánh” lần nữa.",
    "r.photos": "Ảnh (tối đa 5, JPEG hoặc PNG)",
    "r.contact": "Liên hệ (không bắt buộc)",
    "r.name": "Họ tên",
    "r.phone": "Số điện thoại",
    "r.email": "Email",
    "r.private": "Thông tin liên hệ chỉ cán bộ tiếp nhận được xem; đơn vị xử lý thấy “ẩn danh”.",
    "r.share": "Cho phép đơn vị xử lý liên hệ với tôi",
    "r.submit": "Gửi phản ánh",
    "r.sending": "Đang gửi…",
    "r.thanks": "Cảm ơn bạn! Phản ánh đã được tiếp nhận.",
    "r.code": "Mã theo dõi của bạn",
    "r.keep": "Hãy lưu mã này để theo dõi kết quả xử lý.",
    "r.track": "Theo dõi phản ánh",
    "r.gps_ok": "Đã lấy vị trí",
    "r.gps_fail": "Không lấy được vị trí GPS — hãy chạm vào bản đồ hoặc nhập tọa độ",
    "r.need_category": "Hãy chọn lĩnh vực",
    "r.need_desc": "Hãy mô tả sự việc hoặc gửi kèm ảnh",
    "r.need_loc": "Hãy chọn vị trí (GPS, bản đồ hoặc tọa độ)",
    "r.need_attr": "Hãy điền mục bắt buộc",
    "r.too_many": "Tối đa 5 ảnh",
    "r.m": "m",
  },
  en: {
    "r.title": "Report a problem",
    "r.intro": "Tell the province about a problem where you live. Fields marked * are required.",
    "r.category": "Category",
    "r.choose": "— Choose a category —",
    "r.description": "Description",
    "r.location": "Location",
    "r.gps": "Use my GPS location",
    "r.tap": "Or tap the map to choose the place, or type the coordinates.",
    "r.lat": "Latitude",
    "r.lon": "Longitude",
    "r.nearby": "Similar reports nearby",
    "r.nearby_hint": "If it is the same problem, there is no need to report it again.",
    "r.nearby_confirm": "There are similar reports nearby. To send yours anyway, press “Send report” again.",
    "r.photos": "Photos (up to 5, JPEG or PNG)",
    "r.contact": "Contact (optional)",
    "r.name": "Name",
    "r.phone": "Phone",
    "r.email": "Email",
    "r.private": "Only the intake staff see your contact details; the unit handling the report sees “anonymous”.",
    "r.share": "Let the handling unit contact me",
    "r.submit": "Send report",
    "r.sending": "Sending…",
    "r.thanks": "Thank you! Your report was received.",
    "r.code": "Your tracking code",
    "r.keep": "Keep this code to follow what happens.",
    "r.track": "Track the report",
    "r.gps_ok": "Location found",
    "r.gps_fail": "Could not get a GPS location — tap the map or type the coordinates",
    "r.need_category": "Choose a category",
    "r.need_desc": "Describe the problem or attach a photo",
    "r.need_loc": "Choose the location (GPS, map or coordinates)",
    "r.need_attr": "Fill in the required field",
    "r.too_many": "At most 5 photos",
    "r.m": "m",
  },
});

const $ = (id) => document.getElementById(id);
const form = $("form");
const msg = $("form-msg");
let services = [];
let token = "";
let nearby = [];
let confirmed = false;
const idemKey = [...crypto.getRandomValues(new Uint8Array(16))].map((b) => b.toString(16).padStart(2, "0")).join("");

// The catalogue as served (Go field names), tolerant of lower-case names.
function norm(cat) {
  const list = cat.Services || cat.services || [];
  return list.map((s) => ({
    code: s.Code ?? s.code,
    name: s.Name ?? s.name,
    description: s.Description ?? s.description,
    attributes: (s.Attributes ?? s.attributes ?? []).map((a) => ({
      code: a.Code ?? a.code,
      datatype: a.Datatype ?? a.datatype,
      required: a.Required ?? a.required,
      description: a.Description ?? a.description,
      values: (a.Values ?? a.values ?? []).map((v) => ({ key: v.Key ?? v.key, name: v.Name ?? v.name })),
    })),
  }));
}

function renderCategories() {
  const sel = $("category");
  const keep = sel.value;
  sel.replaceChildren(el("option", { value: "" }, t("r.choose")), ...services.map((s) => el("option", { value: s.code }, bi(s.name))));
  sel.value = keep;
  renderAttributes();
}

function category() {
  return services.find((s) => s.code === $("category").value);
}

function renderAttributes() {
  const c = category();
  $("category-desc").textContent = c ? bi(c.description) : "";
  const box = $("attributes");
  const old = Object.fromEntries(new FormData(form).entries());
  box.replaceChildren(
    ...(c?.attributes || []).map((a) => {
      const id = "attr-" + a.code;
      const label = bi(a.description) + (a.required ? " *" : "");
      if (a.datatype === "multivaluelist") {
        return el(
          "fieldset",
          { class: "field" },
          el("legend", {}, label),
          a.values.map((v) =>
            el("label", {}, el("input", { type: "checkbox", name: `attribute[${a.code}]`, value: v.key }), " ", bi(v.name)),
          ),
        );
      }
      const input =
        a.datatype === "singlevaluelist"
          ? el("select", { id, name: `attribute[${a.code}]`, required: a.required },
              el("option", { value: "" }, "—"), a.values.map((v) => el("option", { value: v.key }, bi(v.name))))
          : el("input", { id, name: `attribute[${a.code}]`, required: a.required, inputmode: a.datatype === "number" ? "decimal" : null });
      if (old[input.name]) input.value = old[input.name];
      return el("div", { class: "field" }, el("label", { for: id }, label), input);
    }),
  );
}

// Location: GPS, a tap on the map, or typed coordinates.
const pick = L.map("pick-map", { zoomControl: true, keyboard: false, attributionControl: false }).setView([10.24, 106.37], 9);
let marker = null;
uiConfig()
  .then((ui) => boundaries(ui.admin_file))
  .then((fc) => {
    // The outlines of the lowest level (communes) with their names, from the public boundaries route.
    const layer = L.geoJSON(fc, {
      style: { color: "#0f5132", weight: 1, fillColor: "#bbf7d0", fillOpacity: 0.5 },
      onEachFeature: (f, lyr) => {
        const p = f.properties || {};
        lyr.bindTooltip(p.name || p.code, { sticky: true });
        lyr.on("add", () => lyr.getElement()?.setAttribute("data-area", p.code));
      },
    }).addTo(pick);
    for (const l of layer.getLayers()) l.getElement()?.setAttribute("data-area", l.feature.properties.code);
    if (layer.getLayers().length) pick.fitBounds(layer.getBounds());
    document.body.dataset.boundaries = String(layer.getLayers().length);
  })
  .catch((err) => {
    document.body.dataset.boundaries = "error";
    console.error("boundaries", err);
  });
pick.on("click", (e) => setLocation(e.latlng.lat, e.latlng.lng));

function setLocation(lat, lon, fromInput) {
  if (!fromInput) {
    $("lat").value = lat.toFixed(6);
    $("lon").value = lon.toFixed(6);
  }
  if (marker) marker.setLatLng([lat, lon]);
  else marker = L.circleMarker([lat, lon], { radius: 9, color: "#b91c1c", weight: 3, fillOpacity: 0.6 }).addTo(pick);
  checkNearby();
}

function where() {
  const lat = Number($("lat").value.replace(",", "."));
  const lon = Number($("lon").value.replace(",", "."));
  if (!$("lat").value || !$("lon").value || !Number.isFinite(lat) || !Number.isFinite(lon)) return null;
  if (lat < -90 || lat > 90 || lon < -180 || lon > 180) return null;
  return [lon, lat];
}

for (const id of ["lat", "lon"]) {
  $(id).addEventListener("change", () => {
    const p = where();
    if (p) setLocation(p[1], p[0], true);
  });
}

$("gps").addEventListener("click", () => {
  if (!navigator.geolocation) {
    $("loc-msg").textContent = t("r.gps_fail");
    return;
  }
  navigator.geolocation.getCurrentPosition(
    (pos) => {
      setLocation(pos.coords.latitude, pos.coords.longitude);
      pick.setView([pos.coords.latitude, pos.coords.longitude], 15);
      $("loc-msg").textContent = t("r.gps_ok");
    },
    () => ($("loc-msg").textContent = t("r.gps_fail")),
    { enableHighAccuracy: true, timeout: 15000 },
  );
});

// Nearby open reports of the same category, offered before submitting.
let nearbySeq = 0;
async function checkNearby() {
  const c = $("category").value;
  const p = where();
  confirmed = false;
  if (!c || !p) {
    nearby = [];
    renderNearby();
    return;
  }
  const seq = ++nearbySeq;
  try {
    const list = await api("/api/v1/reports/nearby?" + new URLSearchParams({ category: c, lon: p[0], lat: p[1] }));
    if (seq !== nearbySeq) return;
    nearby = list || [];
  } catch {
    nearby = [];
  }
  renderNearby();
}

function renderNearby() {
  $("nearby").hidden = nearby.length === 0;
  $("nearby-list").replaceChildren(
    ...nearby.map((r) =>
      el("li", {}, el("b", {}, t("st." + r.status)), " — ", r.description || bi(r.service_name), r.distance_m != null ? ` (${num(r.distance_m, 0)} ${t("r.m")})` : ""),
    ),
  );
}

$("category").addEventListener("change", () => {
  renderAttributes();
  checkNearby();
});

async function loadToken() {
  const tk = await api("/api/v1/reports/form-token");
  token = tk.token;
}

function fail(text, focus) {
  msg.textContent = text;
  msg.className = "msg err";
  if (focus) focus.focus();
}

form.addEventListener("submit", async (e) => {
  e.preventDefault();
  const c = category();
  if (!c) return fail(t("r.need_category"), $("category"));
  for (const inp of $("attributes").querySelectorAll("[required]")) {
    if (!inp.value) return fail(t("r.need_attr") + ": " + inp.closest(".field").querySelector("label").textContent, inp);
  }
  const files = $("photos").files;
  if (files.length > 5) return fail(t("r.too_many"), $("photos"));
  if (!$("description").value.trim() && files.length === 0) return fail(t("r.need_desc"), $("description"));
  const p = where();
  if (!p) return fail(t("r.need_loc"), $("lat"));
  if (nearby.length && !confirmed) {
    confirmed = true;
    return fail(t("r.nearby_confirm"), $("submit"));
  }
  const fd = new FormData();
  fd.set("category", c.code);
  fd.set("description", $("description").value.trim());
  fd.set("lon", String(p[0]));
  fd.set("lat", String(p[1]));
  for (const inp of $("attributes").querySelectorAll("[name]")) {
    if ((inp.type === "checkbox" && inp.checked) || (inp.type !== "checkbox" && inp.value)) fd.append(inp.name, inp.value);
  }
  for (const f of files) fd.append("photos", f, f.name);
  for (const k of ["name", "phone", "email", "website"]) fd.set(k, $(k).value);
  if ($("share").checked) fd.set("share_contact", "on"); // the reporter lets the handling unit see who they are
  fd.set("form_token", token);
  msg.textContent = t("r.sending");
  msg.className = "msg";
  $("submit").disabled = true;
  try {
    const resp = await fetch("/api/v1/reports", { method: "POST", body: fd, headers: { "Idempotency-Key": "web-" + idemKey } });
    const body = await resp.json().catch(() => ({}));
    if (!resp.ok) {
      if (resp.status === 403) await loadToken(); // form check: a fresh token for the next try
      throw new Error(body?.error?.message || resp.statusText);
    }
    form.hidden = true;
    $("code").textContent = body.code;
    $("track-link").href = "/track/" + encodeURIComponent(body.code);
    $("done").hidden = false;
    $("done").focus();
  } catch (err) {
    fail(t("error") + ": " + err.message);
  } finally {
    $("submit").disabled = false;
  }
});

setupLangButton($("lang"));
onLang(() => {
  renderCategories();
  renderNearby();
});
applyTexts();
Promise.all([api("/api/v1/reports/services").then((cat) => ((services = norm(cat)), renderCategories())), loadToken()]).catch((err) =>
  fail(t("error") + ": " + err.message),
);
