"""The reader pages (qa.web) with Flask's client: what is served, where, and that the package ships
it; their behaviour in a browser is tests/test_page.py."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from urllib.parse import quote

import pytest
from flask import Flask
from markupsafe import escape

from qa.api import create_app
from qa.config import Settings
from qa.service import Service
from tests.conftest import ROOT, SEED_ID
from tests.test_api import error_body, json_of

WEB = ROOT / "qa" / "web"


def test_the_page_and_every_asset_it_names_are_served(client) -> None:
    page = client.get("/")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assets = re.findall(r'(?:src|href)="(assets/[^"]+)"', html)
    assert sorted(assets) == [
        "assets/chat-core.js",
        "assets/chat.css",
        "assets/icon.svg",
        "assets/page.css",
        "assets/page.js",
    ]
    # Its own icon: without one a browser asks for /favicon.ico, a 404 in every visitor's console.
    assert '<link rel="icon" href="assets/icon.svg" type="image/svg+xml">' in html
    types = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
    for asset in assets:
        response = client.get("/" + asset)
        assert response.status_code == 200, asset
        assert response.mimetype == types[Path(asset).suffix]
        assert response.data == (WEB / "static" / Path(asset).name).read_bytes()


def test_widget_js_is_one_closure_with_the_shared_script_and_the_inlined_styles(client) -> None:
    response = client.get("/widget.js")
    assert response.status_code == 200 and response.mimetype == "text/javascript"
    script = response.get_data(as_text=True)
    core = (WEB / "static" / "chat-core.js").read_text(encoding="utf-8")
    widget = (WEB / "static" / "widget.js").read_text(encoding="utf-8")
    assert core in script and widget in script and script.index(core) < script.index(widget)
    assert script.split("\n", 1)[1].startswith('(() => {\n"use strict";\nconst WIDGET_CSS = "')
    assert script.rstrip().endswith("})();")
    assert ":host { all: initial;" in script  # widget.css, inlined as a JSON string


def test_the_demo_page_embeds_the_widget_scoped_to_its_article(client) -> None:
    response = client.get(f"/demo/{SEED_ID}")
    assert response.status_code == 200 and response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert f'<script src="/widget.js" data-doc-id="{SEED_ID}"></script>' in html  # the API is the script's origin
    assert '<h1 dir="auto">Blinken and Wang Yi hold seven hours of talks on the U.S.-China relationship</h1>' in html
    assert "particularly those contributing to the fentanyl crisis." in html


# What Firefox and Chrome send when a reader opens a link.
BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


@pytest.mark.parametrize("accept", [None, "*/*", "application/json", "application/json, text/html;q=0.9"])
def test_the_demo_page_of_an_unknown_article_is_the_api_404_for_a_client_not_asking_for_html(
    client, accept: str | None
) -> None:
    response = client.get("/demo/no-such-article", headers={"Accept": accept} if accept else {})
    assert json_of(response, 404) == error_body("document_not_found", "No document has the id 'no-such-article'.")
    assert "Accept" in response.vary  # a cache must not hand this to a browser, nor the page to curl


@pytest.mark.parametrize("doc_id", ["no-such-article", "<script>alert(\"x\")<b title='y'>&amp;"])
def test_a_browser_following_a_stale_demo_link_gets_a_page_saying_the_article_is_gone(client, doc_id: str) -> None:
    """A reader opening /demo/<id> of an article the archive no longer holds (or never did: a
    mistyped link, an id no article may have) was shown the API's JSON error."""
    response = client.get("/demo/" + quote(doc_id, safe=""), headers=BROWSER)
    assert response.status_code == 404 and response.mimetype == "text/html"
    assert "Accept" in response.vary
    html = response.get_data(as_text=True)
    assert "is not in the archive" in html and "removed" in html
    assert f"<code>{escape(doc_id)}</code>" in html  # the id from the URL, escaped, quotes included
    assert "<script" not in html and "<b " not in html and "'y'" not in html
    assert '<a href="/">' in html  # to the chat page
    demo = client.get(f"/demo/{SEED_ID}").get_data(as_text=True)
    style = re.search(r"<style>.*?</style>", demo, re.S)
    assert style and style[0] in html and '<header class="paper">' in html  # in the demo page's style


def test_with_read_requires_key_a_stale_demo_link_asks_for_the_key_first(settings: Settings, service: Service) -> None:
    """Without the key a browser learns nothing of which articles exist: 401, as for one that does."""
    client = create_app(settings.with_overrides(api_keys=("k",), read_requires_key=True), service).test_client()
    for doc_id in ("no-such-article", SEED_ID):
        assert json_of(client.get(f"/demo/{doc_id}", headers=BROWSER), 401)["error"]["code"] == "unauthorized"


def test_while_loading_the_page_is_served_and_the_demo_says_not_ready(settings: Settings) -> None:
    app: Flask = create_app(settings, Service(settings))
    client = app.test_client()
    assert client.get("/").status_code == 200
    assert client.get("/widget.js").status_code == 200
    assert json_of(client.get(f"/demo/{SEED_ID}"), 503) == error_body(
        "not_ready", "the index is still loading; retry shortly"
    )


def test_the_package_data_globs_ship_every_web_file() -> None:
    """An installed (non-editable) package serves the page only if setuptools copies its files."""
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["package-data"]
    files = {
        path for path in WEB.rglob("*") if path.is_file() and path.suffix != ".py" and "__pycache__" not in path.parts
    }
    matched = {path for glob in globs["qa.web"] for path in WEB.glob(glob)}  # setuptools' own reading of them
    assert {WEB / "static" / "index.html", WEB / "templates" / "demo.html"} <= files
    assert sorted(files - matched) == []
