"""What the API's resource modules share: services' refusals as problems, JSON bodies read
through a schema, and id-keyed look-ups scoped to the organisation."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

import marshmallow as ma
from flask import request, url_for
from flask_babel import lazy_gettext as _l

from app.blueprints.api.auth import MAX_ID
from app.blueprints.api.problems import ApiProblem
from app.services.errors import NotAllowed, ServiceError


@contextmanager
def service_refusals(location: str = "json") -> Iterator[None]:
    """A service's NotAllowed is a 403 problem; any other refusal a 422 naming its field."""
    try:
        yield
    except NotAllowed as error:
        raise ApiProblem("forbidden", error.message) from error
    except ServiceError as error:
        field = error.field or "_schema"
        raise ApiProblem(
            "validation_failed", error.message, errors={location: {field: [str(error.message)]}}
        ) from error


def load_json_part(schema: ma.Schema, raw: str | None, location: str) -> dict:
    """A JSON document sent as one field of a multipart body, validated by ``schema``."""
    if raw is None:
        raise ApiProblem(
            "validation_failed", errors={"form": {location: [str(_l("Missing data for field."))]}}
        )
    try:
        value = json.loads(raw)
    except ValueError as error:
        raise ApiProblem(
            "validation_failed", errors={"form": {location: [str(_l("Not valid JSON."))]}}
        ) from error
    if not isinstance(value, dict):
        raise ApiProblem(
            "validation_failed", errors={"form": {location: [str(_l("Not a JSON object."))]}}
        )
    try:
        return schema.load(value)
    except ma.ValidationError as error:
        raise ApiProblem("validation_failed", errors={location: error.messages}) from error


def valid_id(value: int | None) -> int | None:
    """An id from the request, or None when no row can have it."""
    return value if value is not None and 0 < value <= MAX_ID else None


def absolute(endpoint: str, **values) -> str:
    return url_for(endpoint, _external=False, **values)


def wants_files() -> list:
    return [f for f in request.files.getlist("files") if f and f.filename]
