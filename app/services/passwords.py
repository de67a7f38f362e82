"""The password policy, and changing one's password.

A password is refused when it is shorter than PASSWORD_MIN_LENGTH, contains the username or a
part of the person's name, uses fewer than five different characters, or is (once trailing
digits and symbols are taken off) one of the ~20,000 most common passwords
(data/common-passwords.txt.gz, see data/README.md). Each refusal says which rule it broke.
"""

from __future__ import annotations

import gzip
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from flask import current_app, has_app_context
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from app.database import write_transaction
from app.models import User
from app.services import audit, sign_in
from app.services.actor import Actor
from app.services.errors import ServiceError

COMMON_PASSWORDS = Path(__file__).resolve().parent / "data" / "common-passwords.txt.gz"
DEFAULT_MIN_LENGTH = 12
MIN_DISTINCT_CHARACTERS = 5
MIN_NAME_PART = 4  # shorter parts of a name ("Le", "Ali") are too common to refuse
_TRAILING = re.compile(r"[\d\W_]+$")
_NAME_PARTS = re.compile(r"[\s.\-_'@]+")


class PasswordRefused(ServiceError):
    """The password breaks one or more rules; `problems` holds a message for each."""

    def __init__(self, problems: list):
        super().__init__(problems[0], field="password")
        self.problems = problems


@dataclass(frozen=True)
class PasswordPolicy:
    min_length: int = DEFAULT_MIN_LENGTH

    @classmethod
    def from_config(cls, config) -> PasswordPolicy:
        return cls(min_length=int(config["PASSWORD_MIN_LENGTH"]))

    @classmethod
    def current(cls) -> PasswordPolicy:
        """The running application's policy (the defaults outside one)."""
        return cls.from_config(current_app.config) if has_app_context() else cls()


@cache
def common_passwords() -> frozenset[str]:
    with gzip.open(COMMON_PASSWORDS, "rt", encoding="utf-8") as handle:
        return frozenset(line.strip() for line in handle if line.strip())


def problems(
    password: str, *, username: str, full_name: str, policy: PasswordPolicy | None = None
) -> list:
    """What is wrong with this password for this person: an empty list when it is acceptable."""
    policy = policy or PasswordPolicy.current()
    found = []
    lowered = password.lower()
    if len(password) < policy.min_length:
        found.append(_l("The password must have at least %(n)s characters.", n=policy.min_length))
    if len(username) >= 3 and username.lower() in lowered:
        found.append(_l("The password must not contain your username."))
    parts = [full_name, *_NAME_PARTS.split(full_name)]
    if any(len(part) >= MIN_NAME_PART and part.lower() in lowered for part in parts):
        found.append(_l("The password must not contain your name."))
    if len(set(password)) < MIN_DISTINCT_CHARACTERS:
        found.append(
            _l(
                "The password must use at least %(n)s different characters.",
                n=MIN_DISTINCT_CHARACTERS,
            )
        )
    core = _TRAILING.sub("", lowered.strip())
    if lowered.strip() in common_passwords() or core in common_passwords():
        found.append(_l("This password is one of the most commonly used: choose another one."))
    return found


def check(
    password: str, *, username: str, full_name: str, policy: PasswordPolicy | None = None
) -> None:
    """Raise PasswordRefused unless the password follows the policy."""
    found = problems(password, username=username, full_name=full_name, policy=policy)
    if found:
        raise PasswordRefused(found)


def change_password(
    session: Session,
    actor: Actor,
    *,
    current: str,
    new: str,
    policy: PasswordPolicy | None = None,
) -> None:
    """The signed-in user changes their own password; the current one is required."""
    user: User = actor.user
    if not user.check_password(current):
        raise ServiceError(_l("The current password is wrong."), field="current")
    if new == current:
        raise PasswordRefused([_l("The new password must differ from the current one.")])
    check(new, username=user.username, full_name=user.full_name, policy=policy)
    with write_transaction(session):
        user.set_password(new)
        # Sessions opened before this moment end (on the sign-in clock, which tests move).
        user.password_changed_at = sign_in.now()
        audit.record(
            session,
            actor,
            "user.password_changed",
            organisation_id=user.organisation_id,
            object_type="user",
            object_id=user.id,
        )
