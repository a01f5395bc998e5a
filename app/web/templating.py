"""One Jinja environment, shared by page rendering and by live-event partials."""

from __future__ import annotations

import json
from datetime import datetime
from functools import lru_cache
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from app import clock
from app.auth.models import ROLES
from app.chat.models import MEDIA_KINDS, ROOM_TYPES
from app.config import ROOT
from app.robots.models import ROBOT_ROLES, SHIFTS

SENDER_ROLE_NAMES = {"operator": "运营", "staff": "工作人员", "user": "用户", "robot": "机器人"}
PERSON_ROLE_NAMES = {"operator": "运营", "assistant": "群助理", "after_sales": "售后", "user": "用户"}
MEDIA_NAMES = {
    "text": "文本",
    "image": "图片",
    "voice": "语音",
    "video": "视频",
    "link": "链接",
    "file": "文件",
    "mini_program": "小程序",
    "card": "名片",
    "location": "位置",
    "quote": "引用回复",
    "chat_record": "聊天记录",
    "tencent_doc": "腾讯文档",
    "solitaire": "接龙",
    "collection_form": "收集表",
    "warning": "系统提示",
    "unknown": "未知",
}
STATUS_NAMES = {"received": "待处理", "processed": "已处理", "failed": "处理失败"}


def localtime(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    if value is None:
        return "—"
    return clock.to_local(value).strftime(fmt)


def to_json_text(value: Any, indent: int | None = None) -> str:
    """JSON for display: readable Chinese; autoescaping makes it safe in HTML."""
    return json.dumps(value, ensure_ascii=False, indent=indent, default=str)


@lru_cache(maxsize=1)
def jinja_env() -> Environment:
    env = Environment(
        loader=FileSystemLoader(ROOT / "templates"),
        autoescape=select_autoescape(["html", "xml"], default_for_string=True, default=True),
        trim_blocks=True,
        lstrip_blocks=True,
        enable_async=False,
    )
    env.filters["localtime"] = localtime
    env.filters["json_text"] = to_json_text
    env.globals.update(
        SENDER_ROLE_NAMES=SENDER_ROLE_NAMES,
        PERSON_ROLE_NAMES=PERSON_ROLE_NAMES,
        ROBOT_ROLES=ROBOT_ROLES,
        SHIFTS=SHIFTS,
        ROLES=ROLES,
        ROOM_TYPES=ROOM_TYPES,
        MEDIA_NAMES=MEDIA_NAMES,
        MEDIA_KINDS=MEDIA_KINDS,
        STATUS_NAMES=STATUS_NAMES,
    )
    return env


def render_partial(name: str, **context: Any) -> str:
    return jinja_env().get_template(name).render(**context)
