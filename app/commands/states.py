"""Command statuses, the allowed transitions, the retry back-off and WorkTool error texts.

Pure functions only (no I/O), so the rules are unit-tested on their own.

queued ──claim+send──▶ sent ──callback / rawMsg query──▶ succeeded
  │                      └──error / no result──▶ failed | timeout ──back-off──▶ queued (next attempt)
  │                                                   └── attempts used up ──▶ manual (人工处理)
  └──cancel──▶ cancelled                    manual | failed | timeout ──retry (staff)──▶ queued
"""

from __future__ import annotations

QUEUED = "queued"
SENT = "sent"
SUCCEEDED = "succeeded"
FAILED = "failed"
TIMEOUT = "timeout"
MANUAL = "manual"
CANCELLED = "cancelled"

STATUSES = (QUEUED, SENT, SUCCEEDED, FAILED, TIMEOUT, MANUAL, CANCELLED)
STATUS_NAMES = {
    QUEUED: "排队中",
    SENT: "已发送",
    SUCCEEDED: "已成功",
    FAILED: "失败",
    TIMEOUT: "超时",
    MANUAL: "待人工处理",
    CANCELLED: "已取消",
}
KIND_NAMES = {"send_text": "发送文本", "reply": "自动回复", "notify": "通知", "alert": "告警"}
FINAL = frozenset({SUCCEEDED, MANUAL, CANCELLED})
RETRYABLE_BY_STAFF = frozenset({MANUAL, FAILED, TIMEOUT})

TRANSITIONS: dict[str, frozenset[str]] = {
    QUEUED: frozenset({SENT, FAILED, TIMEOUT, MANUAL, CANCELLED, SUCCEEDED}),
    SENT: frozenset({SUCCEEDED, FAILED, TIMEOUT, MANUAL}),
    FAILED: frozenset({QUEUED, MANUAL, SUCCEEDED}),
    TIMEOUT: frozenset({QUEUED, MANUAL, SUCCEEDED, FAILED}),
    MANUAL: frozenset({QUEUED, SUCCEEDED}),  # staff retry; or a late success callback
    SUCCEEDED: frozenset(),
    CANCELLED: frozenset(),
}

# WORKTOOL.md §3 error codes (errorCode / rawSuccess) → what staff read.
ERROR_TEXTS: dict[int, str] = {
    101011: "数据格式错误",
    101012: "非法操作",
    101013: "没有权限",
    201101: "未找到聊天窗口（群名或联系人名不存在）",
    201102: "消息发送失败",
    201103: "未找到按钮",
    201104: "未找到目标",
    201105: "转发失败",
    201106: "重复操作",
    201107: "文件下载失败",
    201108: "文件存储失败",
    501000: "机器人其他错误",
    501011: "robotId 错误（机器人编号不存在）",
    501012: "robotKey 错误",
    501013: "机器人重复登录",
}
GROUP_MANAGEMENT_CODES = range(201011, 201019)
# Retrying cannot help: the request or the robot's configuration is wrong. Straight to manual.
PERMANENT_CODES = frozenset({101011, 101012, 101013, 501011, 501012})


def can_transition(current: str, new: str) -> bool:
    return new in TRANSITIONS.get(current, frozenset())


def error_text(code: int | None, reason: str = "") -> str:
    """Chinese text for a WorkTool error code, with WorkTool's own reason when it adds something."""
    if code is None:
        return reason or "未知错误"
    if code in ERROR_TEXTS:
        base = ERROR_TEXTS[code]
    elif code in GROUP_MANAGEMENT_CODES:
        base = "群管理操作失败"
    else:
        base = "WorkTool 返回错误"
    text = f"{base}（错误码 {code}）"
    extra = reason.strip()
    if extra and "".join(extra.split()).lower() not in "".join(base.split()).lower():
        text += f"：{extra}"
    return text


def retry_backoff_seconds(attempt: int, base: float, factor: float = 4.0, cap: float = 900.0) -> float:
    """Unscaled wait after failed attempt `attempt` (1-based): base, base×4, base×16 … capped."""
    return float(min(cap, base * factor ** max(0, attempt - 1)))


def will_retry(attempts: int, max_attempts: int, code: int | None = None) -> bool:
    """After a failed or timed-out attempt: try again after the back-off, or go to manual handling."""
    return code not in PERMANENT_CODES and attempts < max_attempts
