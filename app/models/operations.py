"""What running Diwan needs to know about itself: the background workers' heartbeats and the
periodic jobs' claims."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, Integer, String, Text
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


class JobRun(Base):
    """One row per periodic job (deadline reminders, audit time-stamps, sweeps): when it is next
    due and who holds it. A worker claims a job by moving `lease_until` forward with a
    conditional UPDATE, so on several machines each round runs once; a worker killed mid-job
    leaves a lease that lapses, and the job runs again."""

    __tablename__ = "job_runs"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    due_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime)
    holder: Mapped[str | None] = mapped_column(String(200))  # host:pid of the running worker
    started_at: Mapped[datetime | None] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
    runs: Mapped[int] = mapped_column(Integer, default=0)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_report: Mapped[dict] = mapped_column(JSON, default=dict)
