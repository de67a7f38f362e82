"""What running Diwan needs to know about itself: the background workers' heartbeats."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, utcnow


class WorkerHeartbeat(Base):
    """One row per running worker process, updated every round: /readyz reports a worker that
    stopped beating."""

    __tablename__ = "worker_heartbeats"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)  # host:pid
    started_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    beat_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_report: Mapped[dict] = mapped_column(JSON, default=dict)
