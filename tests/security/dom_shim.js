// A minimal DOM for running the web page's scripts under node, without a browser.
// Input (stdin, JSON): {tree, scripts, location_search, responses: {prefix: {status, body, content_type}},
//                       actions: [{set: {id: value}} | {submit: id}]}
// Output (stdout, JSON): {html, created, fetched, errors}. Text nodes are serialised escaped, the way a
// browser's innerHTML getter does, so markup that a script inserted as text shows up as &lt;…&gt;.
"use strict";
const fs = require("fs");
const vm = require("vm");

const input = JSON.parse(fs.readFileSync(0, "utf-8"));
const created = [];
const fetched = [];
const errors = [];
const escText = (s) => String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
const escAttr = (s) => escText(s).replace(/"/g, "&quot;");
const VOID = new Set(["meta", "link", "input", "br", "img", "hr"]);

class Text {
  constructor(data) { this.data = String(data); this.parentNode = null; }
  get textContent() { return this.data; }
  set textContent(v) { this.data = String(v); }
  serialize() { return escText(this.data); }
}

class Element {
  constructor(tag, attrs) {
    this.tagName = tag.toUpperCase();
    this.attrs = Object.assign({}, attrs || {});
    this.childNodes = [];
    this.parentNode = null;
    this.listeners = {};
    const self = this;
    this.dataset = new Proxy({}, {
      get(_, k) {
        const v = self.attrs["data-" + String(k).replace(/[A-Z]/g, (c) => "-" + c.toLowerCase())];
        return v === undefined ? undefined : v;
      },
      set(_, k, v) { self.attrs["data-" + String(k).replace(/[A-Z]/g, (c) => "-" + c.toLowerCase())] = String(v); return true; },
    });
  }
  get children() { return this.childNodes.filter((n) => n instanceof Element); }
  setAttribute(k, v) { this.attrs[k.toLowerCase()] = String(v); }
  getAttribute(k) { return k in this.attrs ? this.attrs[k] : null; }
  _adopt(n) {
    if (typeof n === "string") n = new Text(n);
    if (n.parentNode) n.parentNode.childNodes.splice(n.parentNode.childNodes.indexOf(n), 1);
    n.parentNode = this;
    return n;
  }
  appendChild(n) { n = this._adopt(n); this.childNodes.push(n); return n; }
  append(...ns) { for (const n of ns) this.appendChild(n); }
  prepend(...ns) { for (const n of ns.reverse()) { const a = this._adopt(n); this.childNodes.unshift(a); } }
  replaceChildren(...ns) { this.childNodes = []; this.append(...ns); }
  get textContent() { return this.childNodes.map((c) => c.textContent).join(""); }
  set textContent(v) { this.childNodes = []; if (v !== "" && v !== null && v !== undefined) this.appendChild(new Text(v)); }
  get innerHTML() { return this.childNodes.map((c) => c.serialize()).join(""); }
  set innerHTML(_) { errors.push("innerHTML assigned on <" + this.tagName.toLowerCase() + ">"); }
  insertAdjacentHTML() { errors.push("insertAdjacentHTML called"); }
  addEventListener(type, fn) { (this.listeners[type] = this.listeners[type] || []).push(fn); }
  dispatch(type) {
    const ev = { type, target: this, preventDefault() { this.defaultPrevented = true; } };
    for (const fn of this.listeners[type] || []) fn(ev);
  }
  walk(fn) { for (const c of this.children) { if (fn(c) === true) return c; const r = c.walk(fn); if (r) return r; } return null; }
  matches(sel) {
    if (sel.startsWith("#")) return this.attrs.id === sel.slice(1);
    if (sel.startsWith(".")) return (this.attrs.class || "").split(/\s+/).includes(sel.slice(1));
    const m = sel.match(/^\[([\w-]+)\]$/);
    if (m) return m[1] in this.attrs;
    return this.tagName.toLowerCase() === sel.toLowerCase();
  }
  querySelector(sel) { return this.walk((e) => e.matches(sel)); }
  querySelectorAll(sel) { const out = []; this.walk((e) => { if (e.matches(sel)) out.push(e); }); return out; }
  serialize() {
    const tag = this.tagName.toLowerCase();
    const attrs = Object.entries(this.attrs).map(([k, v]) => (v === "" ? ` ${k}` : ` ${k}="${escAttr(v)}"`)).join("");
    if (VOID.has(tag)) return `<${tag}${attrs}>`;
    return `<${tag}${attrs}>${this.innerHTML}</${tag}>`;
  }
}
// Reflected attributes.
for (const name of ["id", "href", "type", "rows", "placeholder", "name"]) {
  Object.defineProperty(Element.prototype, name, {
    get() { return this.attrs[name] === undefined ? "" : this.attrs[name]; },
    set(v) { this.attrs[name] = String(v); },
  });
}
Object.defineProperty(Element.prototype, "className", {
  get() { return this.attrs.class || ""; }, set(v) { this.attrs.class = String(v); },
});
Object.defineProperty(Element.prototype, "maxLength", { set(v) { this.attrs.maxlength = String(v); } });
for (const name of ["hidden", "required", "checked"]) {
  Object.defineProperty(Element.prototype, name, {
    get() { return name in this.attrs; },
    set(v) { if (v) this.attrs[name] = ""; else delete this.attrs[name]; },
  });
}
Object.defineProperty(Element.prototype, "value", {
  get() {
    if (this.tagName === "SELECT") { const o = this.querySelector("option[selected]"); return o ? o.value : ""; }
    return this.attrs.value === undefined ? "" : this.attrs.value;
  },
  set(v) { this.attrs.value = String(v); },
});

function build(node) {
  if (typeof node === "string") return new Text(node);
  const e = new Element(node.tag, node.attrs);
  for (const c of node.children || []) e.appendChild(build(c));
  return e;
}

const root = build(input.tree);
const body = root.querySelector("body") || root;
const docListeners = {};
const document = {
  readyState: "loading",
  documentElement: root,
  body,
  getElementById: (id) => root.walk((e) => e.attrs.id === id),
  querySelector: (s) => root.querySelector(s),
  querySelectorAll: (s) => root.querySelectorAll(s),
  createElement: (tag) => { created.push(String(tag).toLowerCase()); return new Element(String(tag)); },
  createTextNode: (t) => new Text(t),
  addEventListener: (t, fn) => { (docListeners[t] = docListeners[t] || []).push(fn); },
  write: () => errors.push("document.write called"),
};

let pending = 0;
function fetchStub(url) {
  fetched.push(String(url));
  const keys = Object.keys(input.responses).filter((k) => String(url).startsWith(k)).sort((a, b) => b.length - a.length);
  if (!keys.length) return Promise.reject(new Error("no stubbed response for " + url));
  const r = input.responses[keys[0]];
  pending++;
  const bytes = new TextEncoder().encode(r.body);
  return new Promise((resolve) => setTimeout(() => {
    pending--;
    let read = false;
    resolve({
      ok: r.status < 400, status: r.status,
      headers: { get: (k) => (k.toLowerCase() === "content-type" ? r.content_type : null) },
      json: async () => JSON.parse(r.body),
      text: async () => r.body,
      body: { getReader: () => ({ read: async () => (read ? { done: true } : ((read = true), { value: bytes, done: false })) }) },
    });
  }, 1));
}

const location = { search: input.location_search || "", pathname: "/" };
const context = vm.createContext({
  document, window: null, location, fetch: fetchStub, URLSearchParams, TextDecoder, TextEncoder, console,
  setTimeout, clearTimeout, Promise, JSON, Object, Array, String, Number, Error,
});
context.window = Object.assign(context, { location, document });
for (const path of input.scripts) {
  try { vm.runInContext(fs.readFileSync(path, "utf-8"), context, { filename: path }); } catch (e) { errors.push(path + ": " + e); }
}

const tick = (ms) => new Promise((r) => setTimeout(r, ms));
process.on("unhandledRejection", (e) => errors.push("unhandled: " + e));
(async () => {
  document.readyState = "interactive";
  for (const fn of docListeners.DOMContentLoaded || []) {
    try { await fn({ type: "DOMContentLoaded" }); } catch (e) { errors.push("DOMContentLoaded: " + e); }
  }
  await tick(20);
  for (const a of input.actions || []) {
    if (a.set) for (const [id, v] of Object.entries(a.set)) document.getElementById(id).value = v;
    if (a.submit) document.getElementById(a.submit).dispatch("submit");
    await tick(20);
  }
  for (let i = 0; i < 100 && pending > 0; i++) await tick(10);
  await tick(30);
  process.stdout.write(JSON.stringify({ html: body.serialize(), created, fetched, errors }));
})();
