"""/docs and /redoc work on a server without Internet access: everything comes from it."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from tests.api.conftest import Server

PAGES = ["/docs", "/redoc"]
URL_ATTRIBUTES = {"src", "href", "spec-url"}
ASSET_TYPES = {
    ".js": ("text/javascript", "application/javascript"),
    ".css": ("text/css",),
    ".png": ("image/png",),
    ".json": ("application/json",),
}


class _Urls(HTMLParser):
    """Every URL a page's tags name (src, href, ReDoc's spec-url)."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found += [value for name, value in attrs if name in URL_ATTRIBUTES and value]


def urls_of(page: str) -> list[str]:
    """The URLs of ``page``'s tags, and the OpenAPI URL Swagger UI's script is given."""
    parser = _Urls()
    parser.feed(page)
    return parser.found + re.findall(r"\burl: '([^']*)'", page)


@pytest.mark.parametrize("page", PAGES, ids=["swagger-ui", "redoc"])
def test_the_docs_page_names_no_outside_url(server: Server, page: str) -> None:
    """The page is HTML whose every script, stylesheet, icon and spec URL is on this server."""
    with server.client() as anonymous:
        response = anonymous.get(page)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert re.findall(r"(?:https?:)?//[^\s\"'<>]+", response.text) == []
    urls = urls_of(response.text)
    assert urls
    assert all(url.startswith("/") and not url.startswith("//") for url in urls), urls


@pytest.mark.parametrize("page", PAGES, ids=["swagger-ui", "redoc"])
def test_every_asset_of_the_docs_page_is_served(server: Server, page: str) -> None:
    """Each URL the page names answers 200 with a non-empty body of the right content type."""
    with server.client() as anonymous:
        urls = urls_of(anonymous.get(page).text)
        answers = {url: anonymous.get(url) for url in urls}
    for url, answer in answers.items():
        suffix = "." + url.rsplit(".", 1)[-1]
        assert answer.status_code == 200, url
        assert answer.content, url
        assert answer.headers["content-type"].startswith(ASSET_TYPES[suffix]), (url, answer)


def test_an_unknown_docs_asset_is_a_not_found_problem(server: Server) -> None:
    """A file the docs assets do not have answers 404 NOT_FOUND as a problem document."""
    with server.client() as anonymous:
        response = anonymous.get("/docs/assets/nothing.js")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "NOT_FOUND"


def test_swagger_ui_is_told_not_to_call_the_online_validator(server: Server) -> None:
    """Swagger UI's validator badge would load from validator.swagger.io: it is turned off."""
    with server.client() as anonymous:
        page = anonymous.get("/docs").text
    assert '"validatorUrl": null' in page
