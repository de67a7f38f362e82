"""Who is acting, and from where: what every audit event records."""

from dataclasses import dataclass

from app.models import User


@dataclass(frozen=True)
class Actor:
    user: User
    remote_addr: str = ""

    @property
    def organisation_id(self) -> int:
        return self.user.organisation_id
