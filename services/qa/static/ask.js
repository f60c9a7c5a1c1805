// "Hỏi thủ thư": asks POST /api/v1/ask/stream and shows the answer with clickable citations.
// Text from the server is only ever inserted as text nodes (passages are untrusted data).
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const el = (tag, cls, text) => {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  };
  const history = [];

  function ensureBox() {
    if ($("ask-librarian")) return;
    const host = $("extras") || document.querySelector("main") || document.body;
    const sec = el("section", "ask");
    sec.id = "ask-librarian";
    sec.appendChild(el("h2", null, "Hỏi thủ thư"));
    const form = el("form");
    form.id = "ask-form";
    const ta = el("textarea");
    ta.id = "ask-q"; ta.rows = 2; ta.maxLength = 2000; ta.required = true;
    ta.placeholder = "Ví dụ: Ai là tác giả Tắt đèn? Năm nào Bắc Giang được tái lập?";
    ta.setAttribute("aria-label", "Câu hỏi");
    const label = el("label", "ask-mode");
    const cb = el("input"); cb.type = "checkbox"; cb.id = "ask-generative";
    label.appendChild(cb); label.appendChild(document.createTextNode(" Trả lời bằng mô hình ngôn ngữ (nếu thư viện có bật)"));
    const btn = el("button", null, "Hỏi"); btn.type = "submit";
    form.append(ta, label, btn);
    const status = el("p"); status.id = "ask-status"; status.setAttribute("role", "status");
    const answer = el("div"); answer.id = "ask-answer"; answer.setAttribute("aria-live", "polite");
    const cites = el("ol", "ask-citations"); cites.id = "ask-citations";
    sec.append(form, status, answer, cites);
    host.prepend(sec);
  }

  function recordHref(c) {
    return "/api/v1/records/" + encodeURIComponent(c.library_id) + "/" + encodeURIComponent(c.record_id);
  }

  function renderFinal(res) {
    const box = $("ask-answer");
    const list = $("ask-citations");
    box.textContent = "";
    list.textContent = "";
    const p = el("p", "ask-answer-text" + (res.refused ? " ask-refused" : ""));
    p.appendChild(document.createTextNode(res.answer));
    if (!res.refused && res.citations.length && res.mode !== "generative") {
      const a = el("a", "ask-cite-ref", "[1]"); a.href = "#ask-cite-1"; p.appendChild(a);
    }
    box.appendChild(p);
    if (res.short_answer && !res.refused) {
      const s = el("p"); s.appendChild(document.createTextNode("Trả lời ngắn: "));
      s.appendChild(el("span", "ask-short", res.short_answer)); box.appendChild(s);
    }
    if (res.fallback_reason) box.appendChild(el("p", "ask-refused", "(Đã trả lời theo cách trích câu: " + res.fallback_reason + ")"));
    const items = res.refused ? (res.closest_records || []) : res.citations;
    if (res.refused && items.length) box.appendChild(el("p", null, "Các tài liệu gần nhất:"));
    items.forEach((c, i) => {
      const li = el("li"); li.id = "ask-cite-" + (i + 1);
      const a = el("a", null, c.title || c.record_id); a.href = recordHref(c);
      li.appendChild(a);
      if (c.location) li.appendChild(document.createTextNode(" — " + c.location));
      if (c.quote) li.appendChild(el("blockquote", null, c.quote));
      list.appendChild(li);
    });
  }

  function problemText(body, status) {
    return (body && body.detail) ? body.detail : "Lỗi " + status;
  }

  async function ask(question, generative) {
    const status = $("ask-status");
    const box = $("ask-answer");
    box.textContent = ""; $("ask-citations").textContent = "";
    status.textContent = "Đang tìm trong kho tài liệu…";
    const payload = { question, history: history.slice(-6), mode: generative ? "generative" : "extractive" };
    let resp;
    try {
      resp = await fetch("/api/v1/ask/stream", {
        method: "POST", headers: { "Content-Type": "application/json", "Accept": "text/event-stream" },
        body: JSON.stringify(payload),
      });
    } catch (e) { status.textContent = "Không kết nối được máy chủ."; return; }
    if (!resp.ok) {
      let body = null; try { body = await resp.json(); } catch (e) { /* not JSON */ }
      status.textContent = problemText(body, resp.status); return;
    }
    const live = el("p", "ask-answer-text"); box.appendChild(live);
    const reader = resp.body.getReader();
    const dec = new TextDecoder();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true });
      let i;
      while ((i = buf.indexOf("\n\n")) >= 0) {
        const block = buf.slice(0, i); buf = buf.slice(i + 2);
        let ev = "message", data = "";
        block.split("\n").forEach((line) => {
          if (line.startsWith("event:")) ev = line.slice(6).trim();
          else if (line.startsWith("data:")) data += line.slice(5).trim();
        });
        let obj = null; try { obj = data ? JSON.parse(data) : null; } catch (e) { continue; }
        if (ev === "token" && obj) { live.appendChild(document.createTextNode(obj.text)); status.textContent = ""; }
        else if (ev === "final" && obj) {
          renderFinal(obj); status.textContent = "";
          history.push({ role: "user", content: question });
          history.push({ role: "assistant", content: obj.answer.slice(0, 2000) });
        } else if (ev === "error" && obj) { status.textContent = obj.detail || "Lỗi"; }
      }
    }
  }

  function init() {
    ensureBox();
    $("ask-form").addEventListener("submit", (e) => {
      e.preventDefault();
      const q = $("ask-q").value.trim();
      if (q) ask(q, $("ask-generative").checked);
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init); else init();
})();
