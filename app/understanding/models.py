"""Message-type models trained from the console (staff corrections + the corpus's train split)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, BigId, JsonValue, UTCDateTime


class TrainedModel(Base):
    __tablename__ = "trained_models"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), default="types")
    status: Mapped[str] = mapped_column(String(20), index=True)  # training | ready | failed
    created_by: Mapped[str] = mapped_column(String(60))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    metrics: Mapped[dict[str, Any]] = mapped_column(JsonValue, default=dict)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    payload: Mapped[bytes | None] = mapped_column(LargeBinary, default=None, deferred=True)
