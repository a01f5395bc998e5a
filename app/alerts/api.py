"""JSON API of alerts (seed 000 §9.1 shapes, envelope {code, message, data})."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, Response, get, post, put
from litestar.params import Parameter
from sqlalchemy import select

from app import clock
from app.alerts import config, service
from app.alerts.models import AlertLevel
from app.alerts.queries import AlertFilter, deliveries_of, search_alerts, stats
from app.alerts.views import alert_dict, delivery_dict
from app.auth.guards import requires
from app.auth.service import audit
from app.chat.models import Group
from app.db import get_db
from app.errors import InvalidInput
from app.web.envelope import ok, ok_page
from app.web.params import client_ip, parse_time


class CancelBody(msgspec.Struct, frozen=True):
    cancel_reason: str
    cancelled_by: str | None = None


class EscalateBody(msgspec.Struct, frozen=True):
    escalate_to: int | None = None
    escalate_reason: str = ""


class BulkCancelBody(msgspec.Struct, frozen=True):
    alert_ids: list[int]
    cancel_reason: str
    cancelled_by: str | None = None


class CreateBody(msgspec.Struct, frozen=True):
    type: str
    reason: str
    group_id: int | None = None
    group: str | None = None  # the group's name, instead of group_id
    user: str | None = None
    level: int | None = None
    message_id: int | None = None


class LevelBody(msgspec.Struct, frozen=True):
    level_name: str | None = None
    color: str | None = None
    notification_methods: list[str] | None = None
    notification_targets: list[str] | None = None
    description: str | None = None


def level_dict(row: AlertLevel) -> dict[str, Any]:
    return {
        "level": row.level_value,
        "level_value": row.level_value,
        "level_code": row.level_code,
        "level_name": row.level_name,
        "color": row.color,
        "notification_methods": list(row.notification_methods or []),
        "notification_targets": list(row.notification_targets or []),
        "description": row.description,
    }


def _by(request: Request[Any, Any, Any], given: str | None = None) -> str:
    return (given or "").strip()[:60] or request.user.username


class AlertsApi(Controller):
    path = "/api/alerts"
    tags = ["告警"]

    @get("/", summary="查询告警（level、status、type、group、user、时间；分页）")
    async def list_alerts(
        self,
        level: int | None = None,
        status: str | None = Parameter(
            default=None, description="open | acknowledged | cancelled | resolved | active"
        ),
        type: str | None = None,
        group: str | None = Parameter(default=None, description="群名（精确）"),
        user: str | None = Parameter(default=None, description="用户名（精确）"),
        since: str | None = Parameter(default=None, description="ISO 8601，按创建时间"),
        until: str | None = Parameter(default=None, description="ISO 8601，按创建时间"),
        page: int = 1,
        page_size: int = 50,
    ) -> Response[dict[str, Any]]:
        f = AlertFilter(
            level,
            status or None,
            type or None,
            group or None,
            user or None,
            parse_time(since, "since"),
            parse_time(until, "until"),
            page,
            page_size,
        )
        async with get_db().session() as session:
            items, total = await search_alerts(session, f)
        return ok_page([alert_dict(a) for a in items], total, page, page_size)

    @get("/{alert_id:int}", summary="告警详情（含升级历史与通知记录）")
    async def get_one(self, alert_id: int) -> Response[dict[str, Any]]:
        async with get_db().session() as session:
            alert = await service.get_alert(session, alert_id)
            deliveries = await deliveries_of(session, alert_id)
        return ok(alert_dict(alert) | {"deliveries": [delivery_dict(d) for d in deliveries]})

    @post(
        "/", summary="人工创建告警（或使同类未结束告警再次告警）", guards=[requires("agent")], status_code=201
    )
    async def create(self, data: CreateBody, request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
        async with get_db().transaction() as session:
            group_id = data.group_id
            if data.group:
                group_id = await session.scalar(select(Group.id).where(Group.name == data.group.strip()))
                if group_id is None:
                    raise InvalidInput(f"群「{data.group}」不存在")
            alert = await service.raise_alert(
                session,
                alert_type=data.type,
                group_id=group_id,
                user_name=data.user,
                reason=data.reason.strip() or "人工告警",
                level=data.level,
                message_id=data.message_id,
            )
            await audit(session, request.user.username, "alert.create", str(alert.id), {}, client_ip(request))
            body = alert_dict(alert)
        return ok(body, "告警已创建", 201)

    @post("/{alert_id:int}/cancel", summary="取消告警", guards=[requires("agent")])
    async def cancel(
        self, alert_id: int, data: CancelBody, request: Request[Any, Any, Any]
    ) -> Response[dict[str, Any]]:
        async with get_db().transaction() as session:
            alert = await service.cancel(
                session, alert_id, data.cancel_reason, _by(request, data.cancelled_by)
            )
            await audit(
                session,
                request.user.username,
                "alert.cancel",
                str(alert_id),
                {"reason": data.cancel_reason},
                client_ip(request),
            )
            body = alert_dict(alert) | {"alert_id": alert.id}
        return ok(body, "告警已取消")

    @post("/{alert_id:int}/escalate", summary="升级告警", guards=[requires("agent")])
    async def escalate(
        self, alert_id: int, data: EscalateBody, request: Request[Any, Any, Any]
    ) -> Response[dict[str, Any]]:
        async with get_db().transaction() as session:
            alert, old = await service.escalate(
                session, alert_id, data.escalate_to, data.escalate_reason, request.user.username
            )
            await audit(
                session,
                request.user.username,
                "alert.escalate",
                str(alert_id),
                {"to": alert.level, "reason": data.escalate_reason},
                client_ip(request),
            )
            body = alert_dict(alert) | {
                "alert_id": alert.id,
                "old_level": old,
                "new_level": alert.level,
                "escalated_at": clock.now().isoformat(),
                "notification_sent": not alert.suppressed,
            }
        return ok(body, "告警已升级")

    @post("/{alert_id:int}/acknowledge", summary="确认告警（停止按时间升级）", guards=[requires("agent")])
    async def acknowledge(self, alert_id: int, request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
        async with get_db().transaction() as session:
            alert = await service.acknowledge(session, alert_id, request.user.username)
            await audit(
                session, request.user.username, "alert.acknowledge", str(alert_id), {}, client_ip(request)
            )
            body = alert_dict(alert)
        return ok(body, "告警已确认")

    @post("/{alert_id:int}/resolve", summary="解决告警", guards=[requires("agent")])
    async def resolve(self, alert_id: int, request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
        async with get_db().transaction() as session:
            alert = await service.resolve(session, alert_id, request.user.username)
            await audit(
                session, request.user.username, "alert.resolve", str(alert_id), {}, client_ip(request)
            )
            body = alert_dict(alert)
        return ok(body, "告警已解决")

    @post("/bulk-cancel", summary="批量取消告警", guards=[requires("agent")])
    async def bulk_cancel(
        self, data: BulkCancelBody, request: Request[Any, Any, Any]
    ) -> Response[dict[str, Any]]:
        async with get_db().transaction() as session:
            result = await service.bulk_cancel(
                session, data.alert_ids, data.cancel_reason, _by(request, data.cancelled_by)
            )
            await audit(
                session,
                request.user.username,
                "alert.bulk_cancel",
                ",".join(map(str, result["cancelled"]))[:100],
                {"reason": data.cancel_reason},
                client_ip(request),
            )
        return ok(result, f"已取消 {len(result['cancelled'])} 条告警")

    @get("/levels", summary="告警级别（alert_levels）")
    async def levels(self) -> Response[dict[str, Any]]:
        async with get_db().session() as session:
            rows = await service.levels(session)
        return ok([level_dict(r) for r in rows.values()])

    @put("/levels/{level:int}", summary="修改告警级别的通知方式与对象", guards=[requires("supervisor")])
    async def update_level(
        self, level: int, data: LevelBody, request: Request[Any, Any, Any]
    ) -> Response[dict[str, Any]]:
        from app.alerts.delivery import CHANNEL_NAMES, TARGET_NAMES

        async with get_db().transaction() as session:
            row = (await service.levels(session)).get(level)
            if row is None:
                raise InvalidInput("level 必须在 1–4 之间")
            if data.notification_methods is not None:
                bad = [m for m in data.notification_methods if m not in CHANNEL_NAMES]
                if bad:
                    raise InvalidInput(f"未知的通知方式：{','.join(bad)}（可选 {','.join(CHANNEL_NAMES)}）")
                row.notification_methods = list(dict.fromkeys(data.notification_methods))
            if data.notification_targets is not None:
                bad = [t for t in data.notification_targets if t not in TARGET_NAMES]
                if bad:
                    raise InvalidInput(f"未知的通知对象：{','.join(bad)}（可选 {','.join(TARGET_NAMES)}）")
                row.notification_targets = list(dict.fromkeys(data.notification_targets))
            for name in ("level_name", "color", "description"):
                value = getattr(data, name)
                if value is not None:
                    setattr(row, name, value.strip()[: 50 if name != "description" else 500])
            row.updated_at = clock.now()
            await audit(session, request.user.username, "alert.level", str(level), {}, client_ip(request))
            body = level_dict(row)
        return ok(body, "已保存")

    @get("/stats", summary="告警统计（按级别、类型；7 / 30 天趋势；送达率）")
    async def stats(self, days: int = 7) -> Response[dict[str, Any]]:
        async with get_db().session() as session:
            return ok(await stats(session, days))


class AlertSettingsApi(Controller):
    path = "/api/settings/alerts"
    tags = ["告警"]

    @get("/", summary="告警设置（时长单位：秒）")
    async def read(self) -> Response[dict[str, Any]]:
        async with get_db().session() as session:
            return ok(msgspec.to_builtins(await config.load(session)))

    @put("/", summary="修改告警设置（部分字段即可；时长单位：秒，最小 1）", guards=[requires("supervisor")])
    async def write(self, data: dict[str, Any], request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
        async with get_db().transaction() as session:
            settings = await config.save(session, data, request.user.username)
            await audit(
                session,
                request.user.username,
                "settings.alerts",
                "alerts",
                {"keys": sorted(data)},
                client_ip(request),
            )
        return ok(msgspec.to_builtins(settings), "已保存")
