"""/api/v1/docs: the OpenAPI document as a server-rendered page (no script, no CDN: the strict
CSP holds): each operation, its parameters, request and response schemas, and the error codes."""

from __future__ import annotations

from flask import Blueprint, render_template

from app.blueprints.api.auth import public
from app.blueprints.api.problems import CODES

bp = Blueprint("api_docs_page", __name__, url_prefix="/api/v1")
blp = bp  # registered like the resource modules, but not an operation of the document

METHODS = ("get", "post", "put", "patch", "delete")


def _resolve(spec: dict, node):
    """A schema with its $ref followed (one level: nested refs are named, not expanded)."""
    if isinstance(node, dict) and "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        section = node["$ref"].split("/")[2]
        return name, spec.get("components", {}).get(section, {}).get(name, {})
    return None, node or {}


def _operations(spec: dict) -> list[dict]:
    found = []
    for path, item in spec.get("paths", {}).items():
        for method in METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            body = operation.get("requestBody", {}).get("content", {})
            found.append(
                {
                    "method": method.upper(),
                    "path": path,
                    "anchor": f"{method}-{path}".replace("/", "-")
                    .replace("{", "")
                    .replace("}", ""),
                    "summary": operation.get("summary", ""),
                    "description": operation.get("description", ""),
                    "scope": operation.get("x-scope"),
                    "tag": (operation.get("tags") or [""])[0],
                    "parameters": [*item.get("parameters", []), *operation.get("parameters", [])],
                    "body": [(t, *_resolve(spec, c.get("schema"))) for t, c in body.items()],
                    "responses": [
                        (status, *_resolve(spec, answer))
                        for status, answer in operation.get("responses", {}).items()
                    ],
                }
            )
    return found


@bp.get("/docs")
@public
def index():
    from app.blueprints.api import document

    spec = document()
    schemas = spec.get("components", {}).get("schemas", {})
    return render_template(
        "api/docs.html",
        spec=spec,
        operations=_operations(spec),
        schemas=schemas,
        codes=[(code, status, title) for code, (status, title) in CODES.items()],
    )
