// Search page. User text is only ever inserted as text nodes; the server's <mark> tags are rebuilt as elements.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const el = (tag, cls, text) => {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  };
  const state = { filters: {} };
  const libraryNames = {}; // id -> display name, from /api/v1/libraries
  const libName = (id) => libraryNames[id] || id;

  // "a <mark>b</mark> c" -> text nodes and <mark> elements; any other markup stays text.
  function marked(container, s) {
    const parts = String(s || "").split(/(<mark>|<\/mark>)/);
    let inMark = false;
    for (const p of parts) {
      if (p === "<mark>") { inMark = true; continue; }
      if (p === "</mark>") { inMark = false; continue; }
      if (!p) continue;
      const text = p.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, '"').replace(/&#x27;/g, "'").replace(/&amp;/g, "&");
      container.appendChild(inMark ? el("mark", null, text) : document.createTextNode(text));
    }
    return container;
  }

  function facetList(title, name, counts) {
    const box = el("div");
    box.appendChild(el("h3", null, title));
    const ul = el("ul");
    for (const { value, count: n } of (counts || []).slice(0, 10)) {
      const li = el("li");
      const a = el("a", null, `${name === "library_id" ? libName(value) : value} (${n})`);
      a.href = "#";
      a.addEventListener("click", (ev) => {
        ev.preventDefault();
        if (name === "decade") {
          const y = parseInt(value, 10);
          state.filters.year_from = y; state.filters.year_to = y + 9;
        } else {
          state.filters[name] = value;
        }
        run();
      });
      li.appendChild(a);
      ul.appendChild(li);
    }
    box.appendChild(ul);
    return box;
  }

  function render(data) {
    const res = $("results");
    res.replaceChildren();
    $("status").textContent = `${data.total} kết quả`;
    const dym = $("did-you-mean");
    if (data.did_you_mean) {
      $("dym-link").textContent = data.did_you_mean;
      dym.hidden = false;
    } else {
      dym.hidden = true;
    }
    for (const h of data.hits) {
      const card = el("article", "hit");
      card.appendChild(el("h2", null, h.title));
      const meta = [h.authors.join(", "), h.year, libName(h.library_id)].filter(Boolean).join(" · ");
      card.appendChild(el("div", "meta", meta));
      card.appendChild(marked(el("p", "snippet"), h.snippet));
      for (const p of h.passages.slice(0, 2)) {
        // p.snippet is HTML-escaped with <mark>s; p.text is plain text and is shown as such.
        const d = p.snippet
          ? marked(el("p", "passage"), p.snippet)
          : el("p", "passage", p.text.length > 400 ? p.text.slice(0, 400) + "…" : p.text);
        if (p.location) d.appendChild(el("div", "loc", p.location));
        card.appendChild(d);
      }
      res.appendChild(card);
    }
    const f = $("facets");
    f.replaceChildren();
    const active = Object.entries(state.filters).filter(([, v]) => v !== undefined && v !== "");
    if (active.length) {
      const clear = el("a", null, "× Bỏ lọc: " + active.map(([k, v]) => `${k}=${v}`).join(", "));
      clear.href = "#";
      clear.addEventListener("click", (ev) => { ev.preventDefault(); state.filters = {}; run(); });
      f.appendChild(clear);
    }
    // facet key in the response -> [title, search parameter]
    const names = { library: ["Thư viện", "library_id"], language: ["Ngôn ngữ", "language"],
      decade: ["Thập niên", "decade"], type: ["Loại", "type"], subject: ["Chủ đề", "subject"] };
    for (const [key, [title, param]] of Object.entries(names)) {
      const counts = data.facets[key];
      if (counts && counts.length) f.appendChild(facetList(title, param, counts));
    }
  }

  async function run() {
    const q = $("q").value.trim();
    if (!q) return;
    const params = new URLSearchParams({ q, k: "20" });
    const lib = $("library").value;
    if (lib) params.set("library_id", lib);
    for (const [k, v] of Object.entries(state.filters)) if (v !== undefined && v !== "") params.set(k, v);
    $("status").textContent = "Đang tìm…";
    const r = await fetch("/api/v1/search?" + params.toString());
    const data = await r.json();
    if (!r.ok) {
      $("results").replaceChildren();
      $("status").textContent = data.detail || "Lỗi";
      return;
    }
    render(data);
  }

  document.addEventListener("DOMContentLoaded", async () => {
    $("search-form").addEventListener("submit", (ev) => { ev.preventDefault(); state.filters = {}; run(); });
    $("dym-link").addEventListener("click", (ev) => { ev.preventDefault(); $("q").value = $("dym-link").textContent; run(); });
    try {
      const r = await fetch("/api/v1/libraries");
      if (r.ok) for (const lib of await r.json()) {
        libraryNames[lib.id] = lib.name || lib.id;
        const o = el("option", null, lib.name || lib.id);
        o.value = lib.id;
        $("library").appendChild(o);
      }
    } catch (e) { /* the list is optional */ }
    const q = new URLSearchParams(location.search).get("q");
    if (q) { $("q").value = q; run(); }
  });
})();
