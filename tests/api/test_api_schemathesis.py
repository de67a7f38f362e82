"""Schemathesis against the API's own OpenAPI document (loaded from the app through WSGI), with a
valid administrator token on a seeded database: no server error, and no response that contradicts
the document (status code, content type, body schema)."""

from __future__ import annotations

from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app.extensions import db
from app.models import Role, UserRole
from app.services import api_tokens, processing, routing
from app.services import organisations as orgs
from app.services.actor import Actor
from tests.conftest import _user
from tests.factories import register

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
EXAMPLES = 50
# A signature check runs in a sandboxed child: a few examples are enough for its contract.
FEWER = {"POST /api/v1/validate": 8, "POST /api/v1/letters": 25}


@pytest.fixture
def seeded(app, world):
    """Letters in every state an operation can meet, and an administrator's token with every
    scope (it sees the register; registering is refused to it, as on the pages)."""
    app.config.update(
        API_RATE_LIMIT="100000 per minute",
        VERIFY_RATE_LIMIT="100000 per minute",
        PORTAL_TRACK_RATE_LIMIT="100000 per minute",
        PROPAGATE_EXCEPTIONS=False,  # a server error is an answer the checks must see
    )
    department = orgs.create_department(
        db.session, None, world.org, code="RH", name_ar="الموارد البشرية", name_fr="Ressources"
    )
    head = _user(world.org, "head.rh", [Role.DEPARTMENT_HEAD])
    head.department_id = department.id
    # An administrator who also keeps the register and heads a department reaches every view.
    world.admin.department_id = department.id
    db.session.add_all(
        UserRole(user_id=world.admin.id, role=role)
        for role in (Role.REGISTRY_OFFICER, Role.DEPARTMENT_HEAD)
    )
    db.session.commit()
    first = register(world.officer, subject="Demande de mutation")
    register(world.officer, subject="Dossier confidentiel", confidential=True)
    register(world.officer, register="outgoing", subject="Réponse")
    routed = register(world.officer, subject="Demande de congé")
    routing.route_letter(db.session, Actor(world.officer), routed, department.id)
    processing.add_note(
        db.session, Actor(world.officer), routed, "À traiter", department_only=False
    )
    known = {
        "letter_id": first.id,
        "document_id": first.documents[0].id,
        "owner_id": world.admin.id,
        "organisation": world.org.code,
    }
    _row, secret = api_tokens.create_token(
        db.session,
        Actor(world.admin),
        user=world.admin,
        name="schemathesis",
        scopes=list(api_tokens.SCOPES),
    )
    return secret, known


def test_the_api_keeps_its_openapi_document(app, seeded):
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    secret, known = seeded
    headers = {"Authorization": f"Bearer {secret}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    answers: Counter = Counter()
    assert len(operations) >= 12
    for operation in operations:
        # Half the cases name the seeded rows, so the views run beyond their 404s.
        names = {parameter.name for parameter in operation.path_parameters}
        fixed = {name: value for name, value in known.items() if name in names}
        strategy = operation.as_strategy()
        if fixed:
            strategy = st.one_of(strategy, operation.as_strategy(path_parameters=fixed))

        @settings(
            max_examples=FEWER.get(operation.label, EXAMPLES),
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy)
        def check(case):
            response = case.call_and_validate(headers=headers, checks=CHECKS)
            answers[(case.operation.label, response.status_code)] += 1

        check()
    print(sorted(answers.items()))  # shown with -s: what the run exercised
    # The run reached the views, not only the validation layer.
    succeeded = {label for (label, status), _n in answers.items() if status < 300}
    assert sum(answers.values()) > 150 and len(succeeded) >= 8, answers
