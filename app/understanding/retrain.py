"""Retraining the message-type model from the console: staff corrections + the corpus's train split.

An admin starts it on the 消息更正 page; the job trains a new model next to the shipped one (in the
worker, or in-process when embedded), scores both on the corpus's held-out split and keeps the new one
in the database. Nothing changes until an admin switches to it; processing and the identify API then
read the active model (setting ``understanding.type_model``), and switching back is one click.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app import clock
from app.db import get_db
from app.errors import Conflict, InvalidInput, NotFound
from app.jobs import job
from app.system.service import get_setting, put_setting
from app.understanding.classifier import TypeModel, load_type_model
from app.understanding.models import TrainedModel

log = logging.getLogger(__name__)

ACTIVE_KEY = "understanding.type_model"
SHIPPED = "shipped"
STALE_AFTER = timedelta(minutes=30)  # a run still "training" after this is taken as lost
LIST_LIMIT = 20
INTERRUPTED = "训练中断：超过 30 分钟未完成（进程可能已重启）"
RESTARTED = "训练中断：训练期间服务已重启"
DEFAULT_C = 32.0

_loaded: tuple[int, TypeModel] | None = None


async def active_model_id(session: AsyncSession) -> int | None:
    value = await get_setting(session, ACTIVE_KEY)
    return int(value["id"]) if isinstance(value, dict) and value.get("id") else None


async def active_type_model(session: AsyncSession) -> tuple[TypeModel | None, str]:
    """(model, label) for classification: the model an admin switched to, else None (the shipped one)."""
    global _loaded
    model_id = await active_model_id(session)
    if model_id is None:
        return None, SHIPPED
    if _loaded is None or _loaded[0] != model_id:
        payload = await session.scalar(
            select(TrainedModel.payload).where(TrainedModel.id == model_id, TrainedModel.status == "ready")
        )
        if payload is None:  # deleted or never finished: fall back rather than stop processing
            log.warning("active type model %s is missing; using the shipped model", model_id)
            return None, SHIPPED
        _loaded = (model_id, TypeModel.from_bytes(payload))
    return _loaded[1], f"retrained:{model_id}"


async def list_models(session: AsyncSession) -> list[TrainedModel]:
    query = select(TrainedModel).order_by(TrainedModel.id.desc()).limit(LIST_LIMIT)
    return list((await session.execute(query)).scalars())


def is_running(model: TrainedModel) -> bool:
    return model.status == "training" and model.created_at > clock.now() - STALE_AFTER


async def start_retraining(session: AsyncSession, by: str) -> TrainedModel:
    """A new run in status ``training``; the caller enqueues ``retrain_type_model`` after commit."""
    from app.chat.models import MessageCorrection

    running = await session.scalar(
        select(TrainedModel.id).where(
            TrainedModel.status == "training", TrainedModel.created_at > clock.now() - STALE_AFTER
        )
    )
    if running is not None:
        raise Conflict(f"已有一次训练正在进行（#{running}），请等它完成")
    corrections = await session.scalar(
        select(MessageCorrection.id).where(MessageCorrection.field == "message_type").limit(1)
    )
    if corrections is None:
        raise InvalidInput("还没有消息类型的人工更正：先在会话页面更正消息类型，再重新训练")
    await close_interrupted(session)
    model = TrainedModel(kind="types", status="training", created_by=by, created_at=clock.now(), metrics={})
    session.add(model)
    await session.flush()
    return model


async def close_interrupted(session: AsyncSession, older_than: timedelta = STALE_AFTER) -> None:
    """Runs lost to a restart of the worker stay "training": mark them failed. The embedded hub runs
    jobs in its own process, so at its start every run still "training" is lost (older_than=0)."""
    await session.execute(
        update(TrainedModel)
        .where(TrainedModel.status == "training", TrainedModel.created_at <= clock.now() - older_than)
        .values(status="failed", error=INTERRUPTED if older_than else RESTARTED, finished_at=clock.now())
    )


async def prune(session: AsyncSession) -> None:
    """Keep the newest LIST_LIMIT runs (what the page lists) and the active model; drop the rest."""
    query = select(TrainedModel.id).order_by(TrainedModel.id.desc()).limit(LIST_LIMIT)
    newest = list((await session.execute(query)).scalars())
    if len(newest) < LIST_LIMIT:
        return
    older = TrainedModel.id < min(newest)
    active = await active_model_id(session)
    await session.execute(
        delete(TrainedModel).where(older if active is None else and_(older, TrainedModel.id != active))
    )


async def activate(session: AsyncSession, model_id: int | None, by: str) -> None:
    """Switch classification to a ready model, or back to the shipped one (None)."""
    if model_id is not None:
        status = await session.scalar(select(TrainedModel.status).where(TrainedModel.id == model_id))
        if status is None:
            raise NotFound(f"模型 #{model_id} 不存在")
        if status != "ready":
            raise Conflict(f"模型 #{model_id} 尚未训练完成，不能启用")
    await put_setting(session, ACTIVE_KEY, {"id": model_id} if model_id else None, by)


@job
async def retrain_type_model(ctx: dict[str, Any], model_id: int) -> str:
    from app.chat.session_service import CorrectionFilter, export_corrections
    from app.understanding.training.corrections import CorrectionsError, corrections_from_records

    async with get_db().session() as session:
        exported = await export_corrections(
            session, CorrectionFilter(field="message_type", latest_only=True), "jsonl"
        )
    try:
        lines = exported.decode().splitlines()
        records = ((f"更正 {n}", json.loads(line)) for n, line in enumerate(lines, 1))
        corrections = corrections_from_records(records, "console")
        payload, metrics = await asyncio.to_thread(train_and_score, corrections.types)
        metrics["held_out_skipped"] = corrections.held_out
        values: dict[str, Any] = {"status": "ready", "payload": payload, "metrics": metrics}
    except CorrectionsError as exc:
        values = {"status": "failed", "error": str(exc)[:2000]}
    except Exception as exc:  # the run is marked failed with the reason instead of staying "training"
        log.exception("type model retraining failed")
        values = {"status": "failed", "error": f"{type(exc).__name__}: {exc}"[:2000]}
    async with get_db().transaction() as session:
        await session.execute(
            update(TrainedModel).where(TrainedModel.id == model_id).values(finished_at=clock.now(), **values)
        )
        await prune(session)
    log.info("type model retrained", extra={"model_id": model_id, "status": values["status"]})
    return str(values["status"])


def train_and_score(corrections: list[dict[str, Any]]) -> tuple[bytes, dict[str, Any]]:
    """Fit on the corpus's train split plus the corrections; score it and the shipped model on the
    held-out split (which the corrections never enter: texts equal to a held-out one are left out)."""
    from app.understanding.classifier import classify, compile_lexicons
    from app.understanding.corpus import load_rows, row_input
    from app.understanding.lexicon import DEFAULT_LEXICONS
    from app.understanding.training.train_types import fit_type_model

    started = time.perf_counter()
    rows = sorted(load_rows(split="train") + corrections, key=lambda r: str(r["id"]))
    shipped = load_type_model()
    c = float(shipped.by_category["user"].meta.get("C", DEFAULT_C)) if shipped else DEFAULT_C
    model = fit_type_model(rows, c, meta={"trained_at": clock.now().isoformat(timespec="seconds")})
    lexicons = compile_lexicons(DEFAULT_LEXICONS)
    test = load_rows(split="test")

    def accuracy(candidate: TypeModel | None) -> float | None:
        if candidate is None:
            return None
        right = sum(classify(row_input(r), lexicons, candidate).type == r["type"] for r in test)
        return round(right / len(test), 4)

    return model.to_bytes(), {
        "corrections": len(corrections),
        "rows": len(rows),
        "held_out_rows": len(test),
        "held_out_accuracy": accuracy(model),
        "shipped_accuracy": accuracy(shipped),
        "seconds": round(time.perf_counter() - started, 1),
    }
