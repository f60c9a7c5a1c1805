// thuvien: librarian subject suggestion form (no inline scripts; CSP friendly).
(function () {
  "use strict";
  var root = document.getElementById("subjects-suggest");
  if (!root) { return; }
  var form = document.getElementById("subjects-form");
  var status = document.getElementById("subjects-status");
  var tbody = document.getElementById("subjects-results");
  var ddcList = document.getElementById("subjects-ddc-list");
  var last = null;

  function payload(vocab) {
    return {
      title: form.title.value, summary: form.summary.value, toc: form.toc.value,
      vocab: vocab, limit: parseInt(form.limit.value, 10) || 10
    };
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify(body)
    }).then(function (r) {
      return r.json().then(function (j) {
        if (!r.ok) { throw new Error(j.detail || ("HTTP " + r.status)); }
        return j;
      });
    });
  }

  function cell(tr, text) {
    var td = document.createElement("td");
    td.textContent = text;
    tr.appendChild(td);
    return td;
  }

  function check(tr, name, uri) {
    var td = document.createElement("td");
    var box = document.createElement("input");
    box.type = "checkbox"; box.name = name; box.value = uri;
    td.appendChild(box); tr.appendChild(td);
  }

  function showHeadings(res) {
    tbody.textContent = "";
    res.results.forEach(function (s) {
      var tr = document.createElement("tr");
      cell(tr, s.label);
      cell(tr, s.score.toFixed(3));
      cell(tr, (s.sources || []).join(", "));
      check(tr, "accept", s.uri);
      check(tr, "reject", s.uri);
      tbody.appendChild(tr);
    });
    document.getElementById("subjects-headings").hidden = false;
    (res.warnings || []).forEach(function (w) { status.textContent += " " + w; });
  }

  function showDdc(res) {
    ddcList.textContent = "";
    res.results.slice(0, 3).forEach(function (s) {
      var li = document.createElement("li");
      li.textContent = (s.notation || s.label) + " — " + s.label + " (" + s.score.toFixed(3) + ")";
      ddcList.appendChild(li);
    });
    document.getElementById("subjects-ddc").hidden = res.results.length === 0;
  }

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    if (!form.title.value.trim() && !form.summary.value.trim()) {
      status.textContent = "Hãy nhập nhan đề hoặc tóm tắt.";
      return;
    }
    status.textContent = "Đang gợi ý…";
    last = payload(root.dataset.headingVocab);
    Promise.all([
      post(root.dataset.api, last).then(showHeadings),
      post(root.dataset.api, payload(root.dataset.ddcVocab)).then(showDdc).catch(function () { showDdc({ results: [] }); })
    ]).then(function () { status.textContent = "Xong."; })
      .catch(function (e) { status.textContent = "Lỗi: " + e.message; });
  });

  document.getElementById("subjects-learn").addEventListener("click", function () {
    if (!last) { return; }
    var pick = function (name) {
      return Array.prototype.map.call(tbody.querySelectorAll("input[name=" + name + "]:checked"),
        function (b) { return b.value; });
    };
    var body = Object.assign({}, last, { accepted: pick("accept"), rejected: pick("reject") });
    delete body.limit;
    if (!body.accepted.length && !body.rejected.length) {
      status.textContent = "Chưa chọn chủ đề nào."; return;
    }
    post(root.dataset.learn, body).then(function () { status.textContent = "Đã ghi nhận phản hồi."; })
      .catch(function (e) { status.textContent = "Lỗi: " + e.message; });
  });
}());
