// "Gợi ý cho bạn": fills every [data-thuvien-recs] box from GET /api/v1/patrons/{id}/recommendations.
// The patron id comes from the element's data-patron, else from ?patron= in the page URL.
(function () {
  "use strict";

  function text(tag, cls, value) {
    var el = document.createElement(tag);
    if (cls) el.className = cls;
    el.textContent = value;
    return el;
  }

  function render(box, data) {
    var list = box.querySelector(".thuvien-recs-list");
    var status = box.querySelector(".thuvien-recs-status");
    list.replaceChildren();
    if (!data.items || data.items.length === 0) {
      status.textContent = "Chưa có gợi ý nào.";
      return;
    }
    status.textContent = (data.warnings && data.warnings.length) ? data.warnings[0] : "";
    data.items.forEach(function (item) {
      var li = document.createElement("li");
      li.className = "thuvien-rec";
      li.dataset.record = item.library_id + "/" + item.record_id;
      li.appendChild(text("span", "thuvien-rec-title", item.title));
      li.appendChild(text("span", "thuvien-rec-reason", item.reason));
      list.appendChild(li);
    });
  }

  function load(box) {
    var params = new URLSearchParams(window.location.search);
    var patron = box.dataset.patron || params.get("patron");
    if (!patron) return;
    var q = new URLSearchParams({ k: box.dataset.k || "6" });
    if (box.dataset.library) q.set("library_id", box.dataset.library);
    box.hidden = false;
    box.querySelector(".thuvien-recs-status").textContent = "Đang tải gợi ý…";
    fetch("/api/v1/patrons/" + encodeURIComponent(patron) + "/recommendations?" + q.toString(), {
      headers: { Accept: "application/json" },
    })
      .then(function (r) {
        return r.json().then(function (body) {
          if (!r.ok) throw new Error(body.detail || "HTTP " + r.status);
          return body;
        });
      })
      .then(function (body) { render(box, body); })
      .catch(function (err) {
        box.querySelector(".thuvien-recs-status").textContent = "Không tải được gợi ý: " + err.message;
      });
  }

  function init() {
    document.querySelectorAll("[data-thuvien-recs]").forEach(load);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
