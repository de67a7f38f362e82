"""/api/v1/letters/{id}/routing and /notes: route a letter, read and add notes, through the same
services (and so the same permission checks and audit events) as the letter page."""

from __future__ import annotations

from flask_smorest import Blueprint

from app.blueprints.api import schemas
from app.blueprints.api.auth import actor, letter_or_404, scoped, user
from app.blueprints.api.common import service_refusals
from app.blueprints.api.letters import detail
from app.extensions import db
from app.permissions import note_visible
from app.services import processing, routing

blp = Blueprint(
    "api_letter_actions",
    __name__,
    url_prefix="/api/v1/letters",
    description="Routing and notes of a letter",
)


def _note(note) -> dict:
    return {
        "id": note.id,
        "author": note.author.full_name,
        "body": note.body,
        "department_only": note.department_id is not None,
        "created_at": note.created_at,
    }


@blp.route("/<int:letter_id>/routing", methods=["POST"])
@blp.arguments(schemas.RouteSchema)
@blp.response(200, schemas.LetterSchema)
@scoped(blp, "letters:write")
def route(body: dict, letter_id: int):
    """Route the letter to one department for action and others for information (the registry)"""
    letter = letter_or_404(letter_id)
    with service_refusals():
        routing.route_letter(
            db.session,
            actor(),
            letter,
            body["action_department_id"],
            body["copy_department_ids"],
        )
    db.session.refresh(letter)
    return detail(letter, user())


@blp.route("/<int:letter_id>/notes")
@blp.response(200, schemas.NoteSchema(many=True))
@scoped(blp, "letters:read")
def notes(letter_id: int):
    """The notes the caller may read"""
    letter = letter_or_404(letter_id)
    return [_note(n) for n in processing.notes_of(db.session, letter) if note_visible(user(), n)]


@blp.route("/<int:letter_id>/notes", methods=["POST"])
@blp.arguments(schemas.NoteCreateSchema)
@blp.response(201, schemas.NoteSchema)
@scoped(blp, "letters:write")
def add_note(body: dict, letter_id: int):
    """Add a note (the registry, and whoever processes the letter)"""
    letter = letter_or_404(letter_id)
    with service_refusals():
        note = processing.add_note(
            db.session, actor(), letter, body["body"], department_only=body["department_only"]
        )
    return _note(note)
