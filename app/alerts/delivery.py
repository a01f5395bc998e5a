"""Notification channels (§4.4): notify robot (command queue), WeCom group-bot webhook, Feishu bot
webhook, SMS and phone providers over HTTP URL templates, and the console (SSE pop-up, P0 sound).

Every attempt is logged on its delivery row; HTTP channels retry with back-off (3 tries by
default); robot messages are retried by the command queue itself.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app import clock
from app.alerts import config
from app.alerts.models import ACTIVE, Alert, AlertDelivery, AlertLevel
from app.chat.models import Group
from app.commands.aftercommit import after_commit
from app.db import Database
from app.jobs import enqueue
from app.robots.models import robot_groups

log = logging.getLogger(__name__)

CHANNEL_NAMES = {
    "robot": "通知机器人",
    "wecom": "企业微信群机器人",
    "feishu": "飞书机器人",
    "sms": "短信",
    "phone": "电话",
    "console": "控制台弹窗",
}
HTTP_CHANNELS = ("wecom", "feishu", "sms", "phone")
TARGET_NAMES = {"staff": "工作人员", "supervisor": "主管", "manager": "经理", "all": "全员"}
PENDING, SENT, FAILED, SKIPPED = "pending", "sent", "failed", "skipped"
EARLY_TOLERANCE = timedelta(milliseconds=50)
LEASE_SLACK = 5.0
DELIVERY_STATUS_NAMES = {PENDING: "发送中", SENT: "已送达", FAILED: "失败", SKIPPED: "未配置"}


async def level_row(session: AsyncSession, value: int) -> AlertLevel | None:
    query = select(AlertLevel).where(AlertLevel.level_value == value)
    return (await session.execute(query)).scalars().first()


def alert_text(alert: Alert, level: AlertLevel | None) -> str:
    from app.alerts.views import type_name

    name = level.level_name if level else f"{alert.level} 级告警"
    where = f"群「{alert.group_name}」" if alert.group_name else "系统"
    who = f"用户「{alert.user_name}」" if alert.user_name else ""
    extra = f"，已升级 {alert.escalation_count} 次" if alert.escalation_count else ""
    return (
        f"【{name}】{where}{who}{type_name(alert.alert_type)}：{alert.reason}"
        f"（告警 #{alert.id}，等级 {alert.level}{extra}）请尽快处理。"
    )


def people(settings: config.AlertSettings, roles: list[str], key: str) -> list[str]:
    """Phone numbers (key 'phones') or WeCom names (key 'names') of these target roles."""
    wanted = ["staff", "supervisor", "manager", "all"] if "all" in roles else roles
    found: list[str] = []
    for role in [*wanted, "all"] if "all" in roles else wanted:
        for value in settings.targets.get(role, {}).get(key, []):
            if value not in found:
                found.append(value)
    return found


def _delivery(alert: Alert, channel: str, target: str, now: datetime, status: str = PENDING) -> AlertDelivery:
    return AlertDelivery(
        alert_id=alert.id,
        level=alert.level,
        channel=channel,
        target=target[:200],
        status=status,
        attempts=0,
        log=[],
        created_at=now,
        updated_at=now,
    )


async def _notify_groups(session: AsyncSession, robot_id: int) -> list[str]:
    query = (
        select(Group.name)
        .join(robot_groups, robot_groups.c.group_id == Group.id)
        .where(robot_groups.c.robot_id == robot_id)
        .order_by(Group.name)
    )
    return list((await session.execute(query)).scalars())


async def _robot(
    session: AsyncSession, alert: Alert, text: str, names: list[str], now: datetime
) -> AlertDelivery:
    from app.commands.service import enqueue_command
    from app.replies.selection import pick_robot

    robot = await pick_robot(session, group_id=None, purpose="notify")
    groups = await _notify_groups(session, robot.id) if robot is not None else []
    delivery = _delivery(alert, "robot", "、".join(groups) or "工作群", now)
    delivery.attempts = 1
    if robot is None or not groups:
        delivery.status = SKIPPED
        delivery.error = "没有可用的通知机器人或其工作群"
        delivery.log = [{"at": now.isoformat(), "attempt": 1, "ok": False, "error": delivery.error}]
        return delivery
    command = await enqueue_command(
        session, robot, groups, text, at_list=names, message_id=alert.last_message_id, kind="alert"
    )
    delivery.status = SENT
    delivery.command_id = command.id
    delivery.delivered_at = now
    delivery.log = [{"at": now.isoformat(), "attempt": 1, "ok": True, "command_id": command.id}]
    return delivery


async def notify(session: AsyncSession, alert: Alert, now: datetime) -> list[AlertDelivery]:
    """Deliveries of the alert's current level on the level's channels (alert_levels data)."""
    level = await level_row(session, alert.level)
    methods = list(level.notification_methods) if level else ["robot"]
    roles = list(level.notification_targets) if level else ["staff"]
    settings = await config.load(session)
    text = alert_text(alert, level)
    phones = people(settings, roles, "phones")
    deliveries: list[AlertDelivery] = []
    for channel in methods:
        if channel == "robot":
            deliveries.append(await _robot(session, alert, text, people(settings, roles, "names"), now))
        elif channel == "console":
            delivery = _delivery(alert, "console", "控制台", now, SENT)
            delivery.attempts = 1
            delivery.delivered_at = now
            delivery.log = [{"at": now.isoformat(), "attempt": 1, "ok": True}]
            deliveries.append(delivery)
            _popup(session, alert, level)
        elif channel in ("wecom", "feishu"):
            url = settings.wecom_webhook_url if channel == "wecom" else settings.feishu_webhook_url
            deliveries.append(_delivery(alert, channel, "群机器人", now, PENDING if url else SKIPPED))
        elif channel in ("sms", "phone"):
            template = settings.sms_url_template if channel == "sms" else settings.phone_url_template
            if template and phones:
                deliveries.extend(_delivery(alert, channel, phone, now) for phone in phones)
            else:
                deliveries.append(_delivery(alert, channel, "、".join(phones) or "未配置号码", now, SKIPPED))
    for delivery in deliveries:
        if delivery.status == SKIPPED and delivery.error is None:
            delivery.error = f"{CHANNEL_NAMES.get(delivery.channel, delivery.channel)}未配置"
    session.add_all(deliveries)
    await session.flush()
    pending = [d.id for d in deliveries if d.status == PENDING]

    async def send() -> None:
        for delivery_id in pending:
            await enqueue("deliver_alert_notification", delivery_id=delivery_id)

    if pending:
        after_commit(session, send)
    return deliveries


def _popup(session: AsyncSession, alert: Alert, level: AlertLevel | None) -> None:
    from app.alerts.views import type_name

    data = {
        "id": alert.id,
        "level": alert.level,
        "level_name": level.level_name if level else "",
        "color": level.color if level else "",
        "type": alert.alert_type,
        "type_name": type_name(alert.alert_type),
        "group": alert.group_name,
        "user": alert.user_name,
        "reason": alert.reason,
        "sound": alert.level >= 4,
    }

    async def send() -> None:
        from app.realtime.bus import get_bus
        from app.realtime.topics import ALERTS

        try:
            await get_bus().publish(ALERTS, "alert.popup", "", data)
        except RuntimeError:
            return

    after_commit(session, send)


def http_request(
    channel: str, settings: config.AlertSettings, alert: Alert, target: str, text: str
) -> tuple[str, dict[str, Any]]:
    """(URL, JSON body) of one HTTP channel call."""
    if channel == "wecom":
        phones = people(settings, ["all"], "phones") if alert.level >= 4 else []
        body: dict[str, Any] = {"msgtype": "text", "text": {"content": text, "mentioned_mobile_list": phones}}
        return settings.wecom_webhook_url, body
    if channel == "feishu":
        return settings.feishu_webhook_url, {"msg_type": "text", "content": {"text": text}}
    template = settings.sms_url_template if channel == "sms" else settings.phone_url_template
    values = {"phone": target, "text": text, "level": str(alert.level), "alert_id": str(alert.id)}
    url = template
    for key, value in values.items():
        url = url.replace("{" + key + "}", quote(value, safe=""))
    return url, {
        "phone": target,
        "text": text,
        "level": alert.level,
        "alert_id": alert.id,
        "channel": channel,
    }


def accepted(channel: str, response: httpx.Response) -> tuple[bool, str | None]:
    if not 200 <= response.status_code < 300:
        return False, f"HTTP {response.status_code}"
    if channel in ("wecom", "feishu"):
        try:
            body = response.json()
        except ValueError:
            return False, "响应不是 JSON"
        code = body.get("errcode", body.get("code", body.get("StatusCode", 0)))
        if code not in (0, None):
            return False, f"错误码 {code}：{body.get('errmsg') or body.get('msg') or ''}".strip()
    return True, None


async def deliver(db: Database, delivery_id: int) -> str:
    """One attempt of one HTTP delivery; schedules the next try with back-off, or gives up."""
    async with db.transaction() as session:
        delivery = await session.get(AlertDelivery, delivery_id, with_for_update=True)
        if delivery is None or delivery.status != PENDING:
            return "skip"
        claimed_at = clock.now()
        if delivery.next_attempt_at is not None and delivery.next_attempt_at > claimed_at + EARLY_TOLERANCE:
            return "not_due"  # another job holds this attempt, or the retry is not due yet
        alert = await session.get(Alert, delivery.alert_id)
        settings = await config.load(session)
        if alert is None:
            return "skip"
        # Claim the attempt (a lease in real seconds), so a duplicate job or the sweep never sends twice.
        delivery.next_attempt_at = claimed_at + timedelta(
            seconds=settings.delivery_timeout_seconds + LEASE_SLACK
        )
        level = await level_row(session, delivery.level)
        text = alert_text(alert, level)
        url, body = http_request(delivery.channel, settings, alert, delivery.target, text)
        still_active = alert.status in ACTIVE
    now = clock.now()
    error: str | None
    if not still_active and delivery.attempts > 0:
        ok, error, code = False, "告警已结束，不再重试", None
        final = SKIPPED
    else:
        final = ""
        code = None
        try:
            async with httpx.AsyncClient(timeout=settings.delivery_timeout_seconds) as client:
                response = await client.post(url, json=body)
            code = response.status_code
            ok, error = accepted(delivery.channel, response)
        except httpx.HTTPError as exc:
            ok, error = False, f"{type(exc).__name__}: {exc}"[:300]
    async with db.transaction() as session:
        row = await session.get(AlertDelivery, delivery_id, with_for_update=True)
        if row is None or row.status != PENDING:
            return "skip"
        now = clock.now()
        if final:
            row.status, row.error, row.updated_at, row.next_attempt_at = final, error, now, None
            return final
        row.attempts += 1
        row.log = [
            *(row.log or []),
            {"at": now.isoformat(), "attempt": row.attempts, "ok": ok, "status_code": code, "error": error},
        ]
        row.updated_at = now
        if ok:
            row.status, row.error, row.delivered_at, row.next_attempt_at = SENT, None, now, None
            return SENT
        row.error = error
        if row.attempts >= settings.delivery_attempts:
            row.status, row.next_attempt_at = FAILED, None
            log.warning("alert delivery failed", extra={"delivery_id": row.id, "channel": row.channel})
            return FAILED
        wait = clock.scaled_seconds(settings.delivery_retry_seconds * 2 ** (row.attempts - 1))
        row.next_attempt_at = now + clock.scaled(settings.delivery_retry_seconds * 2 ** (row.attempts - 1))

        async def retry() -> None:
            await enqueue("deliver_alert_notification", delivery_id=delivery_id, defer_by=wait)

        after_commit(session, retry)
        return "retry"


async def due_retries(session: AsyncSession, before: datetime, limit: int = 200) -> list[int]:
    query = (
        select(AlertDelivery.id)
        .where(
            AlertDelivery.status == PENDING,
            (AlertDelivery.next_attempt_at.is_(None) & (AlertDelivery.created_at <= before))
            | (AlertDelivery.next_attempt_at <= before),
        )
        .order_by(AlertDelivery.id)
        .limit(limit)
    )
    return list((await session.execute(query)).scalars())
