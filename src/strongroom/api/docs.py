"""The API's documentation: the OpenAPI document, and /docs and /redoc served offline.

:class:`DocumentedAPI` is FastAPI with an OpenAPI document that lists the
problem documents each route answers, and not FastAPI's ``422 Validation
Error`` (see :func:`strongroom.api.problems.document_problems`).

FastAPI's own pages load their scripts and styles from a CDN (and ReDoc its fonts
from Google): on a self-hosted install without Internet access they stay blank.
These pages are FastAPI's (``get_swagger_ui_html``, ``get_redoc_html``) pointed
at copies of those files that the ``fastapi-offline`` package ships, served by
this app under :data:`ASSETS`. Nothing on them is loaded from elsewhere.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from strongroom.api.problems import document_problems

ASSETS = "/docs/assets"
"""Where the documentation pages' scripts, stylesheet and icon are served."""
_PACKAGE = ("fastapi_offline", "static")
"""The package and folder that hold swagger-ui-bundle.js, swagger-ui.css,
redoc.standalone.js and favicon.png (copies of the files of FastAPI's CDN URLs)."""
_SWAGGER_UI_PARAMETERS = {
    "validatorUrl": None,  # Swagger UI would show a badge fetched from validator.swagger.io
}


class DocumentedAPI(FastAPI):
    """FastAPI whose OpenAPI document tells the problems its routes answer."""

    def openapi(self) -> dict[str, Any]:
        if self.openapi_schema is None:
            self.openapi_schema = document_problems(super().openapi())
        return self.openapi_schema


def install(app: FastAPI, *, docs_url: str = "/docs", redoc_url: str = "/redoc") -> None:
    """Serve the assets and the two pages (the app is made with ``docs_url=None``
    and ``redoc_url=None``, so that FastAPI serves neither of its own)."""
    app.mount(ASSETS, StaticFiles(packages=[_PACKAGE]), name="docs-assets")
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get(docs_url, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=root + openapi_url,
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{root}{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS}/favicon.png",
            oauth2_redirect_url=None,  # the API takes bearer keys, not OAuth2
            swagger_ui_parameters={**_SWAGGER_UI_PARAMETERS, **(app.swagger_ui_parameters or {})},
        )

    @app.get(redoc_url, include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=root + openapi_url,
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{ASSETS}/favicon.png",
            with_google_fonts=False,
        )
