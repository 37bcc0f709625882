// /track/{code}: the status and history of one citizen report.
import "./base.css";
import "./citizen.css";
import { addTexts, api, applyTexts, bi, el, onLang, setupLangButton, t, when } from "./common.js";

addTexts({
  vi: { "tr.title": "Theo dõi phản ánh", "tr.loading": "Đang tải…", "tr.new": "Gửi phản ánh mới", "tr.code": "Mã", "tr.status": "Trạng thái",
    "tr.category": "Lĩnh vực", "tr.created": "Tiếp nhận lúc", "tr.due": "Hạn xử lý", "tr.unit": "Đơn vị xử lý", "tr.history": "Quá trình xử lý",
    "tr.notfound": "Không tìm thấy phản ánh với mã này", "tr.overdue": "Quá hạn", "tr.photo": "Ảnh hiện trường" },
  en: { "tr.title": "Track a report", "tr.loading": "Loading…", "tr.new": "Send a new report", "tr.code": "Code", "tr.status": "Status",
    "tr.category": "Category", "tr.created": "Received", "tr.due": "Due", "tr.unit": "Handled by", "tr.history": "History",
    "tr.notfound": "No report has this code", "tr.overdue": "Overdue", "tr.photo": "Photo of the place" },
});

const code = decodeURIComponent(location.pathname.split("/").pop() || "");
const box = document.getElementById("track");
let data = null;
let error = "";

function render() {
  if (error) {
    box.replaceChildren(el("p", { class: "msg err", role: "alert" }, error));
    return;
  }
  if (!data) return;
  box.replaceChildren(
    el("p", {}, t("tr.code"), ": ", el("strong", { id: "track-code" }, data.code)),
    el("p", {}, t("tr.status"), ": ", el("span", { class: "status-big", id: "track-status", dataset: { status: data.status } }, t("st." + data.status)),
      data.overdue ? el("span", { class: "msg err" }, " · ", t("tr.overdue")) : null),
    el("p", {}, t("tr.category"), ": ", bi(data.service_name || data.service_code)),
    data.description ? el("p", {}, data.description) : null,
    el("p", {}, t("tr.created"), ": ", when(data.created)),
    el("p", {}, t("tr.due"), ": ", when(data.due)),
    data.unit ? el("p", {}, t("tr.unit"), ": ", data.unit) : null,
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
  );
}

setupLangButton(document.getElementById("lang"));
onLang(render);
applyTexts();
api("/api/v1/reports/track/" + encodeURIComponent(code))
  .then((d) => (data = d))
  .catch((err) => (error = err.status === 404 ? t("tr.notfound") : t("error") + ": " + err.message))
  .finally(render);
