// /track/{code}: the status and history of one citizen report.
import "./base.css";
import "./citizen.css";
import { addTexts, api, applyTexts, bi, el, onLang, setupLangButton, t, when } from "./common.js";

addTexts({
  vi: { "tr.title": "Theo dõi phản ánh", "tr.loading": "Đang tải…", "tr.new": "Gửi phản ánh mới", "tr.code": "Mã", "tr.status": "Trạng thái",
    "tr.category": "Lĩnh vực", "tr.created": "Tiếp nhận lúc", "tr.due": "Hạn xử lý", "tr.unit": "Đơn vị xử lý", "tr.history": "Quá trình xử lý",
    "tr.notfound": "Không tìm thấy phản ánh với mã này", "tr.overdue": "Quá hạn", "tr.photo": "Ảnh hiện trường",
    "tr.severity": "Mức độ", "tr.result": "Kết quả xử lý", "tr.rate": "Bạn có hài lòng với kết quả xử lý?", "tr.yes": "Hài lòng",
    "tr.no": "Chưa hài lòng", "tr.reason": "Lý do chưa hài lòng (bắt buộc để mở lại phản ánh)", "tr.reopen": "Gửi đánh giá và mở lại phản ánh",
    "tr.rated": "Đánh giá của bạn", "tr.hai_long": "Hài lòng", "tr.chua_hai_long": "Chưa hài lòng", "tr.thanks": "Cảm ơn bạn đã đánh giá",
    "tr.needreason": "Vui lòng nhập lý do" },
  en: { "tr.title": "Track a report", "tr.loading": "Loading…", "tr.new": "Send a new report", "tr.code": "Code", "tr.status": "Status",
    "tr.category": "Category", "tr.created": "Received", "tr.due": "Due", "tr.unit": "Handled by", "tr.history": "History",
    "tr.notfound": "No report has this code", "tr.overdue": "Overdue", "tr.photo": "Photo of the place",
    "tr.severity": "Class", "tr.result": "Result", "tr.rate": "Are you satisfied with the result?", "tr.yes": "Satisfied",
    "tr.no": "Not satisfied", "tr.reason": "Why not (required to reopen the report)", "tr.reopen": "Send the rating and reopen the report",
    "tr.rated": "Your rating", "tr.hai_long": "Satisfied", "tr.chua_hai_long": "Not satisfied", "tr.thanks": "Thank you for your rating",
    "tr.needreason": "Please give a reason" },
});

const code = decodeURIComponent(location.pathname.split("/").pop() || "");
const box = document.getElementById("track");
let data = null;
let error = "";
let unhappy = false; // the citizen chose "chưa hài lòng" and is writing the reason
let rateMsg = "";

const base = "/api/v1/reports/track/" + encodeURIComponent(code);

function load() {
  return api(base).then((d) => (data = d));
}

// rate sends the rating; not satisfied, it also reopens the report with the reason.
async function rate(rating, note = "") {
  try {
    await api(base + "/rating", { json: { rating, note } });
    if (rating === "chua_hai_long") await api(base + "/reopen", { json: { note } });
    unhappy = false;
    rateMsg = t("tr.thanks");
    await load();
  } catch (err) {
    rateMsg = t("error") + ": " + err.message;
  }
  render();
}

// rating is the satisfaction step of a resolved report: two choices, a reason to reopen.
function rating() {
  const done = data.status === "resolved" || data.status === "closed";
  if (data.rating) return el("p", { id: "track-rating", dataset: { rating: data.rating } }, t("tr.rated"), ": ", el("strong", {}, t("tr." + data.rating)),
    rateMsg ? el("span", { class: "msg ok", role: "status" }, " · ", rateMsg) : null);
  if (!done) return rateMsg ? el("p", { class: "msg ok", role: "status", id: "rate-msg" }, rateMsg) : null;
  const reason = el("textarea", { id: "reopen-note", rows: 3, maxlength: 2000 });
  return el("fieldset", { id: "rate" },
    el("legend", {}, t("tr.rate")),
    el("button", { type: "button", id: "rate-yes", onclick: () => rate("hai_long") }, t("tr.yes")), " ",
    el("button", { type: "button", id: "rate-no", "aria-expanded": unhappy ? "true" : "false", onclick: () => { unhappy = true; render(); document.getElementById("reopen-note")?.focus(); } }, t("tr.no")),
    unhappy ? el("div", {},
      el("label", { for: "reopen-note" }, t("tr.reason")), reason,
      el("button", { type: "button", id: "reopen-send", onclick: () => {
        const note = reason.value.trim();
        if (!note) { rateMsg = t("tr.needreason"); render(); return; }
        rate("chua_hai_long", note);
      } }, t("tr.reopen"))) : null,
    rateMsg ? el("p", { class: "msg err", role: "alert", id: "rate-msg" }, rateMsg) : null);
}

function render() {
  if (error) {
    box.replaceChildren(el("p", { class: "msg err", role: "alert" }, error));
    return;
  }
  if (!data) return;
  // replaceChildren writes a null as the text "null": leave the absent parts out.
  box.replaceChildren(...[
    el("p", {}, t("tr.code"), ": ", el("strong", { id: "track-code" }, data.code)),
    el("p", {}, t("tr.status"), ": ", el("span", { class: "status-big", id: "track-status", dataset: { status: data.status } }, t("st." + data.status)),
      data.overdue ? el("span", { class: "msg err" }, " · ", t("tr.overdue")) : null),
    el("p", {}, t("tr.category"), ": ", bi(data.service_name || data.service_code)),
    data.severity_name ? el("p", {}, t("tr.severity"), ": ", el("span", { id: "track-severity", dataset: { severity: data.severity } }, bi(data.severity_name))) : null,
    data.description ? el("p", {}, data.description) : null,
    el("p", {}, t("tr.created"), ": ", when(data.created)),
    el("p", {}, t("tr.due"), ": ", when(data.due)),
    data.unit ? el("p", {}, t("tr.unit"), ": ", data.unit) : null,
    data.result ? el("p", {}, t("tr.result"), ": ", el("span", { id: "track-result" }, data.result)) : null,
    rating(),
    data.photos?.length
      ? el("div", { class: "photos", id: "track-photos" },
          // Served by this server: keep the path (reports.public_url may name another host for Open311 clients)
          // and the query: before triage a photo link carries its expiring ?t= for the holder of the code.
          data.photos.map((u) => new URL(u, location.href))
            .map((u) => el("a", { href: u.pathname + u.search }, el("img", { src: u.pathname + "/thumb" + u.search, alt: t("tr.photo") }))))
      : null,
    el("h2", {}, t("tr.history")),
    el("ol", { class: "history", id: "history" },
      (data.history || []).map((h) => el("li", {}, el("b", {}, t("st." + h.status)), " — ", when(h.at), h.note ? el("div", {}, bi(h.note)) : null))),
  ].filter((c) => c != null));
}

setupLangButton(document.getElementById("lang"));
onLang(render);
applyTexts();
load()
  .catch((err) => (error = err.status === 404 ? t("tr.notfound") : t("error") + ": " + err.message))
  .finally(render);
