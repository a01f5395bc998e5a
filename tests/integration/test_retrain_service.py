"""The console's retrained type models on PostgreSQL: refusing a second run, closing interrupted
runs, switching the active model and back."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from app import clock
from app.config import load_settings
from app.db import Database
from app.errors import Conflict, InvalidInput, NotFound
from app.understanding import retrain
from app.understanding.classifier import TypeModel
from app.understanding.models import TrainedModel
from tests.conftest import migrate

pytestmark = pytest.mark.integration


@pytest.fixture
async def db(scratch_pg: str) -> AsyncIterator[Database]:
    migrate(scratch_pg)
    database = Database(load_settings({"DATABASE_URL": scratch_pg, "SECRET_KEY": "x" * 32}))
    yield database
    await database.dispose()


async def add(db: Database, status: str, age: timedelta, payload: bytes | None = None) -> int:
    async with db.transaction() as session:
        model = TrainedModel(
            status=status, created_by="admin", created_at=clock.now() - age, metrics={}, payload=payload
        )
        session.add(model)
        await session.flush()
        return model.id


async def test_runs_one_at_a_time_and_closes_interrupted_runs(db: Database) -> None:
    async with db.transaction() as session:
        with pytest.raises(InvalidInput, match="还没有消息类型的人工更正"):
            await retrain.start_retraining(session, "admin")
    lost = await add(db, "training", timedelta(hours=2))
    running = await add(db, "training", timedelta(minutes=1))
    async with db.transaction() as session:
        with pytest.raises(Conflict, match=f"#{running}"):
            await retrain.start_retraining(session, "admin")
        await retrain.close_interrupted(session)
    async with db.session() as session:
        statuses = dict((await session.execute(select(TrainedModel.id, TrainedModel.status))).tuples().all())
        listed = await retrain.list_models(session)
    assert statuses == {lost: "failed", running: "training"}
    assert [m.id for m in listed] == [running, lost]
    assert [retrain.is_running(m) for m in listed] == [True, False]


async def test_switching_to_a_retrained_model_and_back(db: Database) -> None:
    shipped = TypeModel.load()
    assert shipped is not None
    ready = await add(db, "ready", timedelta(minutes=5), shipped.to_bytes())
    training = await add(db, "training", timedelta(minutes=1))
    async with db.transaction() as session:
        assert await retrain.active_type_model(session) == (None, "shipped")
        with pytest.raises(NotFound):
            await retrain.activate(session, 999_999, "admin")
        with pytest.raises(Conflict, match="尚未训练完成"):
            await retrain.activate(session, training, "admin")
        await retrain.activate(session, ready, "admin")
    async with db.session() as session:
        model, label = await retrain.active_type_model(session)
    assert label == f"retrained:{ready}" and model is not None
    features = ["^请", "请问", "结算"]
    assert model.probabilities(features, "user") == shipped.probabilities(features, "user")
    async with db.transaction() as session:
        await retrain.activate(session, None, "admin")
    async with db.session() as session:
        assert await retrain.active_type_model(session) == (None, "shipped")


async def test_only_the_listed_runs_and_the_active_model_are_kept(db: Database) -> None:
    active = await add(db, "ready", timedelta(hours=4), b"")
    async with db.transaction() as session:
        await retrain.activate(session, active, "admin")
    ids = [await add(db, "failed", timedelta(hours=3 - n / 100)) for n in range(retrain.LIST_LIMIT + 3)]
    async with db.transaction() as session:
        await retrain.prune(session)
    async with db.session() as session:
        left = set((await session.execute(select(TrainedModel.id))).scalars())
    assert left == {active, *ids[3:]}
    async with db.transaction() as session:
        await retrain.activate(session, None, "admin")
        await retrain.prune(session)
    async with db.session() as session:
        left = set((await session.execute(select(TrainedModel.id))).scalars())
    assert left == set(ids[3:])


async def test_an_embedded_start_closes_every_run_still_training(db: Database) -> None:
    recent = await add(db, "training", timedelta(minutes=1))
    async with db.transaction() as session:
        await retrain.close_interrupted(session, older_than=timedelta(0))
    async with db.session() as session:
        model = await session.get(TrainedModel, recent)
    assert model is not None and model.status == "failed" and model.error == retrain.RESTARTED
