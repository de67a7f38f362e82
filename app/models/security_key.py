"""Security keys and platform authenticators (WebAuthn) a user registered to confirm signatures.

A key is disabled, never deleted: the assertions kept as evidence of past signatures name it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, DateTime, ForeignKey, Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, utcnow
from app.models.organisation import User

# WebAuthn allows credential ids up to 1023 bytes.
MAX_CREDENTIAL_ID_BYTES = 1023


class SecurityKey(Base):
    __tablename__ = "security_keys"
    __table_args__ = (
        # "Which keys may this user confirm with?" is asked on every signature.
        Index("ix_security_keys_user", "user_id", "disabled_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    name: Mapped[str] = mapped_column(String(100))  # the user's label ("blue key", "laptop")
    credential_id: Mapped[bytes] = mapped_column(LargeBinary(MAX_CREDENTIAL_ID_BYTES), unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)  # COSE_Key, as the authenticator gave it
    # The authenticator's signature counter is an unsigned 32-bit number: too big for INTEGER.
    sign_count: Mapped[int] = mapped_column(BigInteger, default=0)
    transports: Mapped[list] = mapped_column(JSON, default=list)  # hints for the browser
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime)
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime)

    user: Mapped[User] = relationship()

    @property
    def active(self) -> bool:
        return self.disabled_at is None
