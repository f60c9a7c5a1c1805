"""Security headers on every response, a CSP without inline scripts on HTML pages, CORS only by allow-list."""

from __future__ import annotations

import base64
import hashlib
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from services.common.app import CSP, parse_origins
from services.common.settings import Settings
from services.gateway.app import create_app

REPO = Path(__file__).resolve().parents[2]
WEB_FILES = sorted(
    [*(REPO / "services" / "gateway" / "web").glob("*.html"), *(REPO / "services").glob("*/static/*.html")]
)
JS_FILES = sorted([*(REPO / "services" / "gateway" / "web").glob("*.js"), *(REPO / "services").glob("*/static/*.js")])


class _Audit(HTMLParser):
    """Collects what a CSP without 'unsafe-inline' would block or what could run script."""

    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []
        self.script_srcs: list[str] = []
        self.styles: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name.lower().startswith("on"):
                self.problems.append(f"<{tag} {name}=…> inline handler")
            if name.lower() in ("href", "src", "action") and (value or "").strip().lower().startswith("javascript:"):
                self.problems.append(f"<{tag} {name}=javascript:…>")
            if name.lower() == "style":
                self.problems.append(f"<{tag} style=…> inline style")
        if tag == "script":
            src = dict(attrs).get("src")
            if not src:
                self.problems.append("inline <script>")
            else:
                self.script_srcs.append(src)
            self._in_script = True
        if tag == "style":
            self.problems.append("inline <style>")
        if tag == "link" and dict(attrs).get("rel") == "stylesheet":
            self.styles.append(dict(attrs)["href"])

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script and data.strip():
            self.problems.append("script element with inline code")


def audit(html: str) -> _Audit:
    a = _Audit()
    a.feed(html)
    return a


@pytest.fixture(scope="module")
def bare() -> TestClient:
    """The gateway with no services behind it: enough for pages, static files and headers."""
    with TestClient(create_app({}, Settings())) as client:
        yield client


def test_web_files_exist():
    assert len(WEB_FILES) >= 4 and len(JS_FILES) >= 4, (WEB_FILES, JS_FILES)


@pytest.mark.parametrize("path", WEB_FILES, ids=lambda p: p.name)
def test_fragments_have_no_inline_script_or_handlers(path: Path):
    assert audit(path.read_text(encoding="utf-8")).problems == []


@pytest.mark.parametrize("path", JS_FILES, ids=lambda p: p.name)
def test_scripts_never_parse_strings_as_html(path: Path):
    src = path.read_text(encoding="utf-8")
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "srcdoc"):
        assert sink not in src, f"{path.name} uses {sink}"


def test_search_page_headers_and_no_inline_script(bare: TestClient):
    r = bare.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    csp = r.headers["content-security-policy"]
    assert csp == CSP
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["script-src"] == "'self'" and directives["default-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'" and directives["object-src"] == "'none'"
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "same-origin"
    assert r.headers["x-frame-options"] == "DENY"
    a = audit(r.text)
    assert a.problems == []
    # every script and stylesheet the page links is served by the app, as what it is, with nosniff
    assert len(a.script_srcs) >= 4
    for src in a.script_srcs + a.styles:
        s = bare.get(src)
        assert s.status_code == 200, src
        assert s.headers["x-content-type-options"] == "nosniff"
        kind = "javascript" if src.endswith(".js") else "css"
        assert kind in s.headers["content-type"], (src, s.headers["content-type"])


def test_api_and_error_responses_carry_nosniff(bare: TestClient):
    r = bare.get("/api/v1/nothing-here", headers={"Accept-Language": "en"})
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "same-origin"
    assert "content-security-policy" not in r.headers  # JSON is not rendered; the page's CSP is for HTML
    r = bare.get("/openapi.json")
    assert r.status_code == 200 and r.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_api_docs_pages_allow_their_inline_code_by_hash_only(bare: TestClient, path: str):
    r = bare.get(path)
    assert r.status_code == 200
    csp = r.headers["content-security-policy"]
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "frame-ancestors 'none'" in csp and r.headers["x-frame-options"] == "DENY"
    scripts = re.findall(r"<script>(.*?)</script>", r.text, re.S)
    for code in scripts:
        digest = base64.b64encode(hashlib.sha256(code.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in csp
    script_src = next(d for d in csp.split(";") if d.strip().startswith("script-src"))
    assert len(re.findall("'sha256-", script_src)) == len(scripts)


def test_demo_patron_is_escaped_into_the_page():
    hostile = '"><script>alert(1)</script>'
    with TestClient(create_app({}, Settings(demo_patron=hostile))) as client:
        page = client.get("/").text
    assert "<script>alert(1)</script>" not in page
    assert 'data-patron="&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"' in page
    assert audit(page).problems == []


ORIGIN = "https://opac.thuvien.example.vn"


def _preflight(client: TestClient, origin: str):
    return client.options("/api/v1/search", headers={"Origin": origin, "Access-Control-Request-Method": "GET"})


def test_cors_is_off_by_default(bare: TestClient):
    assert Settings().cors_origins == ""
    r = bare.get("/openapi.json", headers={"Origin": ORIGIN})
    assert "access-control-allow-origin" not in r.headers
    r = _preflight(bare, ORIGIN)
    assert "access-control-allow-origin" not in r.headers


def test_cors_allows_only_listed_origins(monkeypatch):
    monkeypatch.setenv("THUVIEN_CORS_ORIGINS", f" {ORIGIN}/ , https://other.example.vn")
    settings = Settings()
    assert parse_origins(settings.cors_origins) == [ORIGIN, "https://other.example.vn"]
    with TestClient(create_app({}, settings)) as client:
        ok = _preflight(client, ORIGIN)
        assert ok.status_code == 200
        assert ok.headers["access-control-allow-origin"] == ORIGIN
        assert "GET" in ok.headers["access-control-allow-methods"]
        assert ok.headers["x-content-type-options"] == "nosniff"
        assert "access-control-allow-credentials" not in ok.headers
        simple = client.get("/openapi.json", headers={"Origin": ORIGIN})
        assert simple.headers["access-control-allow-origin"] == ORIGIN
        bad = _preflight(client, "https://evil.example.com")
        assert bad.status_code == 400
        assert "access-control-allow-origin" not in bad.headers
        other = client.get("/openapi.json", headers={"Origin": "https://evil.example.com"})
        assert "access-control-allow-origin" not in other.headers


def test_cors_wildcard_is_refused():
    with pytest.raises(ValueError, match="THUVIEN_CORS_ORIGINS"):
        create_app({}, Settings(cors_origins="*"))
