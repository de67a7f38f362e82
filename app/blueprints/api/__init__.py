"""The REST API, /api/v1: JSON over the same services and permission checks as the pages, with an
OpenAPI 3 document generated from the schemas (/api/v1/openapi.json) and browsable docs
(/api/v1/docs). Tokens only (Authorization: Bearer), problem+json errors, cursor pagination,
idempotency keys on registrations. See auth.py, problems.py, pagination.py."""

from __future__ import annotations

import copy

from flask import Flask, current_app, jsonify
from flask_smorest import Api

from app.blueprints.api import problems
from app.blueprints.api.auth import authenticate_request, limit_key
from app.blueprints.api.schemas import (
    LetterMetadataSchema,
    PortalSubmissionSchema,
    ProblemSchema,
)
from app.extensions import csrf, limiter

ERROR_STATUSES = ("400", "401", "403", "404", "409", "413", "415", "422", "429", "500", "503")
DESCRIPTION = (
    "Diwan's REST API. Authenticate with `Authorization: Bearer <token>` (a personal token from "
    "the account page, or an organisation's service token). Every call is checked as the pages "
    "check the token's user; the token's scopes narrow it further (`x-scope` on each operation). "
    "Errors are RFC 9457 problem+json with a stable `code`. Lists are paged by an opaque "
    "`cursor` (`next_cursor`). POST /letters and portal submissions accept `Idempotency-Key`."
)


class DiwanApi(Api):
    """flask-smorest's Api, with Diwan's problem+json errors instead of its JSON handler (which
    would also answer the HTML pages' errors)."""

    document: dict | None = None  # the served document, built on first request

    def _register_error_handlers(self):
        """Errors are installed by problems.install, for API paths only."""

    def _openapi_json(self):
        return jsonify(document())


def _modules():
    from app.blueprints.api import (
        dashboards,
        docs,
        inboxes,
        letter_actions,
        letters,
        portal,
        search,
        verification,
    )

    return (letters, letter_actions, inboxes, search, portal, verification, dashboards, docs)


def init_app(app: Flask) -> None:
    app.config.setdefault("API_TITLE", "Diwan")
    app.config.setdefault("API_VERSION", "1")
    app.config.setdefault("OPENAPI_VERSION", "3.0.3")
    app.config.setdefault("OPENAPI_URL_PREFIX", problems.API_PREFIX)
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    api = DiwanApi()  # one per application: the document is built from its blueprints
    app.extensions["diwan-api"] = api
    api.init_app(app, spec_kwargs={"info": {"description": DESCRIPTION}})
    api.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer"})
    api.spec.components.schema("Problem", schema=ProblemSchema)
    # The JSON documents sent inside multipart bodies, named in those bodies' descriptions.
    api.spec.components.schema("LetterMetadata", schema=LetterMetadataSchema)
    api.spec.components.schema("PortalSubmission", schema=PortalSubmissionSchema)
    problem = {"$ref": "#/components/schemas/Problem"}
    api.spec.components.response(
        "Problem",
        {
            "description": "A problem (RFC 9457)",
            "content": {problems.MEDIA_TYPE: {"schema": problem}},
        },
    )
    for module in _modules():
        if getattr(module, "blp", None) is None:
            continue
        csrf.exempt(module.blp)
        # One budget per token across the whole API (not one per endpoint).
        limiter.shared_limit(_rate_limit, scope="api", key_func=limit_key)(module.blp)
        if hasattr(module.blp, "register_views_in_doc"):
            api.register_blueprint(module.blp)
        else:
            app.register_blueprint(module.blp)
    app.before_request(authenticate_request)
    app.register_error_handler(problems.ApiProblem, problems.from_exception)
    problems.install(app)


def _rate_limit() -> str:
    return current_app.config["API_RATE_LIMIT"]


def document() -> dict:
    """The OpenAPI document, with every operation's error answers as problem+json (built once
    per application)."""
    api = current_app.extensions["diwan-api"]
    if getattr(api, "document", None) is None:
        spec = copy.deepcopy(api.spec.to_dict())
        for operations in spec.get("paths", {}).values():
            for operation in operations.values():
                if not isinstance(operation, dict) or "responses" not in operation:
                    continue
                responses = operation["responses"]
                for status in list(responses):
                    if status == "default" or status[0] in "45":
                        del responses[status]
                for status in ERROR_STATUSES:
                    responses[status] = {"$ref": "#/components/responses/Problem"}
        components = spec.get("components", {})
        for name in ("DEFAULT_ERROR", "UNPROCESSABLE_ENTITY"):
            components.get("responses", {}).pop(name, None)
        components.get("schemas", {}).pop("Error", None)
        api.document = spec
    return api.document
