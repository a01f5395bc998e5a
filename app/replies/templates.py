"""Reply generator from the template library (PRODUCT.md §5, §10): by key or by category, with
variables such as {user_name}, {staff_name}, {task_type}. The AI layer plugs in here later.

    text = await render_template(session, "comfort_staff_online", staff_name="售后A")
    text = await render_template(session, "greeting", user_name="张三")   # one of the category

Templates are edited in the console (/settings/replies/templates) and the API (/api/reply-templates).
"""

from __future__ import annotations

import random
import re
import string
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app import clock
from app.errors import Conflict, InvalidInput, NotFound
from app.replies.defaults import CATEGORIES, DEFAULTS_BY_KEY, VARIABLES
from app.replies.models import ReplyTemplate

KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,59}$")
MAX_TEXT = 1000
_formatter = string.Formatter()


class _Values(dict[str, str]):
    """Known variables fall back to their default; unknown ones stay visible as {name}."""

    def __missing__(self, key: str) -> str:
        if key in VARIABLES:
            return VARIABLES[key][1]
        return "{" + key + "}"


def template_variables(text: str) -> list[str]:
    """The {names} a template uses; raises InvalidInput for malformed braces."""
    try:
        parsed = list(_formatter.parse(text))
    except ValueError as exc:
        raise InvalidInput(f"模板中的花括号不匹配：{exc}") from None
    names = []
    for _literal, name, spec, conversion in parsed:
        if name is None:
            continue
        if not name or spec or conversion or not name.isidentifier():
            raise InvalidInput("变量写法应为 {变量名}，例如 {user_name}")
        names.append(name)
    return names


def fill(text: str, variables: dict[str, Any]) -> str:
    """Substitute {variables} (values as given, None/empty → default)."""
    values = _Values({k: str(v) for k, v in variables.items() if v not in (None, "")})
    if "time" not in values:
        values["time"] = clock.local_now().strftime("%H:%M")
    try:
        return text.format_map(values)
    except (ValueError, IndexError, KeyError):
        return text  # a malformed stored template is sent as written rather than not at all


def validate_template_text(text: str) -> str:
    text = (text or "").strip()
    if not text or len(text) > MAX_TEXT:
        raise InvalidInput(f"模板内容不能为空，且不超过 {MAX_TEXT} 个字符")
    unknown = sorted(set(template_variables(text)) - set(VARIABLES))
    if unknown:
        allowed = "、".join("{" + v + "}" for v in VARIABLES)
        raise InvalidInput(f"未知的变量：{'、'.join(unknown)}（可用：{allowed}）")
    return text


async def find_template(
    session: AsyncSession,
    key_or_category: str,
    text_for_keywords: str | None = None,
    rng: random.Random | None = None,
) -> ReplyTemplate | dict[str, Any] | None:
    """An active template by key, else one of the category (the FAQ entry whose keywords match
    `text_for_keywords` when given, else a random one), else the seeded default of that key."""
    row = (
        await session.execute(select(ReplyTemplate).where(ReplyTemplate.key == key_or_category))
    ).scalar_one_or_none()
    if row is not None:
        return row if row.active else None
    rows = list(
        (
            await session.execute(
                select(ReplyTemplate)
                .where(ReplyTemplate.category == key_or_category, ReplyTemplate.active.is_(True))
                .order_by(ReplyTemplate.sort_order, ReplyTemplate.id)
            )
        ).scalars()
    )
    if text_for_keywords is not None:
        lowered = text_for_keywords.lower()
        for candidate in rows:
            if any(k and k.lower() in lowered for k in candidate.keywords or []):
                return candidate
        return None
    if rows:
        return (rng or random).choice(rows)
    return DEFAULTS_BY_KEY.get(key_or_category)


async def render_template(session: AsyncSession, key_or_category: str, **variables: Any) -> str:
    """The reply text of template `key_or_category` (a key such as "comfort_staff_online", or a
    category such as "greeting"), variables substituted. Raises NotFound when there is none."""
    template = await find_template(session, key_or_category)
    if template is None:
        raise NotFound(f"没有可用的回复模板：{key_or_category}")
    text = template.text if isinstance(template, ReplyTemplate) else str(template["text"])
    return fill(text, variables)


async def match_faq(session: AsyncSession, text: str, **variables: Any) -> tuple[str, str] | None:
    """(template key, rendered text) of the first FAQ answer whose keywords occur in `text`."""
    template = await find_template(session, "faq", text_for_keywords=text)
    if not isinstance(template, ReplyTemplate):
        return None
    return template.key, fill(template.text, variables)


# ── library maintenance (console and API) ───────────────────────────────────


def template_dict(t: ReplyTemplate) -> dict[str, Any]:
    return {
        "id": t.id,
        "key": t.key,
        "category": t.category,
        "category_name": CATEGORIES.get(t.category, t.category),
        "title": t.title,
        "text": t.text,
        "keywords": list(t.keywords or []),
        "variables": sorted(set(template_variables(t.text))) if t.text else [],
        "active": t.active,
        "sort_order": t.sort_order,
        "updated_at": t.updated_at.isoformat(),
        "updated_by": t.updated_by,
    }


def _clean_keywords(values: list[str] | str | None) -> list[str]:
    if isinstance(values, str):
        values = values.replace("，", ",").replace("、", ",").replace("\n", ",").split(",")
    words = [str(v).strip() for v in values or [] if str(v).strip()]
    if len(words) > 50 or any(len(w) > 40 for w in words):
        raise InvalidInput("关键词最多 50 个，每个不超过 40 个字符")
    return list(dict.fromkeys(words))


def _category(value: str) -> str:
    value = (value or "").strip()
    if value not in CATEGORIES:
        raise InvalidInput(f"分类无效：{value}（可选 {', '.join(CATEGORIES)}）")
    return value


async def list_templates(
    session: AsyncSession, category: str | None = None, q: str | None = None
) -> list[ReplyTemplate]:
    query = select(ReplyTemplate)
    if category:
        query = query.where(ReplyTemplate.category == category)
    if q:
        like = f"%{q.strip()[:100]}%"
        query = query.where(
            or_(
                ReplyTemplate.key.ilike(like), ReplyTemplate.title.ilike(like), ReplyTemplate.text.ilike(like)
            )
        )
    query = query.order_by(ReplyTemplate.category, ReplyTemplate.sort_order, ReplyTemplate.id)
    return list((await session.execute(query)).scalars())


async def get_template(session: AsyncSession, key_or_id: str) -> ReplyTemplate:
    row = (
        await session.execute(select(ReplyTemplate).where(ReplyTemplate.key == key_or_id))
    ).scalar_one_or_none()
    if row is None and key_or_id.isdigit():
        row = await session.get(ReplyTemplate, int(key_or_id))
    if row is None:
        raise NotFound(f"回复模板 {key_or_id} 不存在")
    return row


async def create_template(
    session: AsyncSession,
    *,
    key: str,
    category: str,
    text: str,
    title: str = "",
    keywords: list[str] | str | None = None,
    active: bool = True,
    by: str = "system",
) -> ReplyTemplate:
    key = (key or "").strip()
    if not KEY_PATTERN.match(key):
        raise InvalidInput("模板标识只能包含小写字母、数字和下划线，以字母开头（不超过 60 个字符）")
    if await session.scalar(select(func.count()).select_from(ReplyTemplate).where(ReplyTemplate.key == key)):
        raise Conflict(f"模板标识 {key} 已存在")
    now = clock.now()
    order = await session.scalar(select(func.coalesce(func.max(ReplyTemplate.sort_order), 0)))
    row = ReplyTemplate(
        key=key,
        category=_category(category),
        title=(title or key).strip()[:100],
        text=validate_template_text(text),
        keywords=_clean_keywords(keywords),
        active=active,
        sort_order=int(order or 0) + 1,
        created_at=now,
        updated_at=now,
        updated_by=by[:60],
    )
    session.add(row)
    await session.flush()
    return row


async def update_template(
    session: AsyncSession,
    row: ReplyTemplate,
    *,
    text: str | None = None,
    title: str | None = None,
    category: str | None = None,
    keywords: list[str] | str | None = None,
    active: bool | None = None,
    by: str = "system",
    now: datetime | None = None,
) -> ReplyTemplate:
    if text is not None:
        row.text = validate_template_text(text)
    if title is not None:
        row.title = title.strip()[:100] or row.key
    if category is not None:
        row.category = _category(category)
    if keywords is not None:
        row.keywords = _clean_keywords(keywords)
    if active is not None:
        row.active = active
    row.updated_at = now or clock.now()
    row.updated_by = by[:60]
    await session.flush()
    return row
