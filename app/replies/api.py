"""JSON API: shift / robot selection rules, reply delays, reply templates (envelope {code, message, data})."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, Response, get, post, put

from app.auth.guards import requires
from app.auth.service import audit
from app.db import get_db
from app.errors import InvalidInput
from app.replies.defaults import CATEGORIES, VARIABLES
from app.replies.settings import (
    DELAY_FIELDS,
    load_delay_settings,
    load_selection_rules,
    save_delay_settings,
    save_selection_rules,
)
from app.replies.templates import (
    create_template,
    fill,
    get_template,
    list_templates,
    render_template,
    template_dict,
    update_template,
    validate_template_text,
)
from app.web.envelope import ok
from app.web.params import client_ip


class TemplateCreate(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    key: str
    category: str
    text: str
    title: str = ""
    keywords: list[str] = []
    active: bool = True


class TemplateUpdate(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    text: str | None = None
    title: str | None = None
    category: str | None = None
    keywords: list[str] | None = None
    active: bool | None = None


class RenderIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    key: str | None = None  # a template key or category
    text: str | None = None  # or a draft text (preview before saving)
    variables: dict[str, str] = {}


def _body(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise InvalidInput("请求体应为 JSON 对象")
    return data


class ReplySettingsApi(Controller):
    path = "/api/settings"
    tags = ["回复设置"]

    @get("/shifts", summary="班次与机器人选择规则（robot_selection_rules）")
    async def get_shifts(self) -> Response[dict[str, Any]]:
        async with get_db().session() as session:
            return ok((await load_selection_rules(session)).as_dict())

    @put(
        "/shifts", summary="修改班次与机器人选择规则（本地时区 HH:MM-HH:MM）", guards=[requires("supervisor")]
    )
    async def put_shifts(
        self, data: dict[str, Any], request: Request[Any, Any, Any]
    ) -> Response[dict[str, Any]]:
        async with get_db().transaction() as session:
            rules = await save_selection_rules(session, _body(data), request.user.username)
            await audit(
                session, request.user.username, "settings.shifts", "班次", rules.as_dict(), client_ip(request)
            )
        return ok(rules.as_dict(), "已保存")

    @get("/delays", summary="回复延迟设置（reply_delay_settings，秒）")
    async def get_delays(self) -> Response[dict[str, Any]]:
        async with get_db().session() as session:
            settings = await load_delay_settings(session)
        return ok({**settings.as_dict(), "labels": DELAY_FIELDS})

    @put(
        "/delays", summary="修改回复延迟设置（[最小秒数, 最大秒数]，最小 0）", guards=[requires("supervisor")]
    )
    async def put_delays(
        self, data: dict[str, Any], request: Request[Any, Any, Any]
    ) -> Response[dict[str, Any]]:
        body = {k: v for k, v in _body(data).items() if k != "labels"}
        async with get_db().transaction() as session:
            settings = await save_delay_settings(session, body, request.user.username)
            await audit(session, request.user.username, "settings.delays", "回复延迟", {}, client_ip(request))
        return ok(settings.as_dict(), "已保存")


class ReplyTemplatesApi(Controller):
    path = "/api/reply-templates"
    tags = ["回复模板"]

    @get("/", summary="回复模板列表（按分类、关键字筛选）")
    async def list_all(self, category: str | None = None, q: str | None = None) -> Response[dict[str, Any]]:
        if category and category not in CATEGORIES:
            raise InvalidInput(f"category 无效（可选 {', '.join(CATEGORIES)}）")
        async with get_db().session() as session:
            rows = await list_templates(session, category or None, q or None)
        return ok(
            {
                "items": [template_dict(t) for t in rows],
                "total": len(rows),
                "categories": CATEGORIES,
                "variables": {k: v[0] for k, v in VARIABLES.items()},
            }
        )

    @get("/{key:str}", summary="回复模板详情（标识或数字 id）")
    async def get_one(self, key: str) -> Response[dict[str, Any]]:
        async with get_db().session() as session:
            return ok(template_dict(await get_template(session, key)))

    @post("/", summary="新增回复模板", guards=[requires("supervisor")], status_code=201)
    async def create(self, data: TemplateCreate, request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
        async with get_db().transaction() as session:
            row = await create_template(
                session,
                key=data.key,
                category=data.category,
                text=data.text,
                title=data.title,
                keywords=data.keywords,
                active=data.active,
                by=request.user.username,
            )
            await audit(session, request.user.username, "template.create", row.key, {}, client_ip(request))
            body = template_dict(row)
        return ok(body, "已新增", 201)

    @put("/{key:str}", summary="修改回复模板（停用：active=false）", guards=[requires("supervisor")])
    async def update(
        self, key: str, data: TemplateUpdate, request: Request[Any, Any, Any]
    ) -> Response[dict[str, Any]]:
        async with get_db().transaction() as session:
            row = await update_template(
                session,
                await get_template(session, key),
                text=data.text,
                title=data.title,
                category=data.category,
                keywords=data.keywords,
                active=data.active,
                by=request.user.username,
            )
            await audit(session, request.user.username, "template.update", row.key, {}, client_ip(request))
            body = template_dict(row)
        return ok(body, "已保存")

    @post("/render", summary="用变量渲染模板（按标识/分类，或草稿文本）", status_code=200)
    async def render(self, data: RenderIn) -> Response[dict[str, Any]]:
        if data.text is not None:
            return ok({"text": fill(validate_template_text(data.text), data.variables)})
        if not data.key:
            raise InvalidInput("需要 key（模板标识或分类）或 text")
        async with get_db().session() as session:
            return ok({"text": await render_template(session, data.key, **data.variables)})
