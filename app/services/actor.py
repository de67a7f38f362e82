"""Who is acting, and from where: what every audit event records."""

from dataclasses import dataclass

from app.models import User


@dataclass(frozen=True)
class Actor:
    user: User
    remote_addr: str = ""
    # The absent colleague whose work the user is doing (a delegation). When left None, the audit
    # trail works it out for events on a letter (app.permissions.acting_for).
    on_behalf_of: User | None = None

    @property
    def organisation_id(self) -> int:
        return self.user.organisation_id
