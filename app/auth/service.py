"""Users, API tokens and the audit log."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app import clock
from app.auth.models import ROLES, ApiToken, AuditEntry, User
from app.auth.passwords import MIN_PASSWORD_LENGTH, hash_password, verify_password
from app.errors import Conflict, InvalidInput

# Role ranks for "at least" checks; admin can do everything.
ROLE_RANK = {"viewer": 0, "qa": 1, "agent": 2, "supervisor": 3, "admin": 4}


@dataclass(frozen=True, slots=True)
class CurrentUser:
    id: int | None
    username: str
    display_name: str
    role: str
    via: str  # session | token | bootstrap

    @property
    def role_name(self) -> str:
        return ROLES.get(self.role, self.role)

    def at_least(self, role: str) -> bool:
        return ROLE_RANK.get(self.role, -1) >= ROLE_RANK[role]


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_user(
    session: AsyncSession, username: str, password: str, role: str, display_name: str | None = None
) -> User:
    username = username.strip()
    if not username or len(username) > 60:
        raise InvalidInput("用户名不能为空，且不超过 60 个字符")
    if role not in ROLES:
        raise InvalidInput(f"未知角色：{role}")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"密码至少 {MIN_PASSWORD_LENGTH} 位")
    exists = await session.scalar(select(func.count()).select_from(User).where(User.username == username))
    if exists:
        raise Conflict(f"用户名 {username} 已存在")
    user = User(
        username=username,
        display_name=display_name or username,
        password_hash=hash_password(password),
        role=role,
        active=True,
        created_at=clock.now(),
    )
    session.add(user)
    await session.flush()
    return user


async def authenticate(session: AsyncSession, username: str, password: str) -> User | None:
    user = (await session.execute(select(User).where(User.username == username.strip()))).scalar_one_or_none()
    if user is None or not user.active:
        # Spend the same time as a real check so names cannot be probed by timing.
        verify_password(_DUMMY_HASH, password)
        return None
    if not verify_password(user.password_hash, password):
        return None
    user.last_login_at = clock.now()
    return user


_DUMMY_HASH = hash_password(secrets.token_hex(8))


async def issue_token(session: AsyncSession, name: str, role: str, created_by: str) -> tuple[ApiToken, str]:
    if role not in ROLES:
        raise InvalidInput(f"未知角色：{role}")
    token = "hub_" + secrets.token_urlsafe(32)
    row = ApiToken(
        name=name, token_hash=token_digest(token), role=role, created_at=clock.now(), created_by=created_by
    )
    session.add(row)
    await session.flush()
    return row, token


async def find_token(session: AsyncSession, token: str) -> ApiToken | None:
    row = (
        await session.execute(select(ApiToken).where(ApiToken.token_hash == token_digest(token)))
    ).scalar_one_or_none()
    if row is None or row.revoked_at is not None:
        return None
    return row


async def audit(
    session: AsyncSession,
    actor: str,
    action: str,
    target: str = "",
    detail: dict[str, Any] | None = None,
    ip: str = "",
) -> None:
    session.add(
        AuditEntry(
            at=clock.now(), actor=actor, action=action, target=target[:200], detail=detail or {}, ip=ip[:64]
        )
    )


async def list_audit(
    session: AsyncSession, actor: str | None, action: str | None, page: int, page_size: int
) -> tuple[list[AuditEntry], int]:
    query = select(AuditEntry)
    if actor:
        query = query.where(AuditEntry.actor == actor)
    if action:
        query = query.where(AuditEntry.action.startswith(action))
    total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = await session.execute(
        query.order_by(AuditEntry.id.desc()).offset((page - 1) * page_size).limit(page_size)
    )
    return list(rows.scalars()), total


async def list_users(session: AsyncSession) -> list[User]:
    return list((await session.execute(select(User).order_by(User.id))).scalars())


async def get_user(session: AsyncSession, user_id: int) -> User:
    user = await session.get(User, user_id)
    if user is None:
        from app.errors import NotFound

        raise NotFound("用户不存在")
    return user


async def change_user(
    session: AsyncSession,
    user: User,
    role: str | None = None,
    active: bool | None = None,
    password: str | None = None,
) -> User:
    was_active_admin = user.role == "admin" and user.active
    if role is not None:
        if role not in ROLES:
            raise InvalidInput(f"未知角色：{role}")
        user.role = role
    if active is not None:
        user.active = active
    if password is not None:
        if len(password) < MIN_PASSWORD_LENGTH:
            raise InvalidInput(f"密码至少 {MIN_PASSWORD_LENGTH} 位")
        user.password_hash = hash_password(password)
    if was_active_admin and not (user.role == "admin" and user.active):
        others = await session.scalar(
            select(func.count())
            .select_from(User)
            .where(User.role == "admin", User.active.is_(True), User.id != user.id)
        )
        if not others:
            raise Conflict("至少需要保留一个启用的超级管理员")
    return user


async def list_tokens(session: AsyncSession) -> list[ApiToken]:
    return list((await session.execute(select(ApiToken).order_by(ApiToken.id.desc()))).scalars())


async def revoke_token(session: AsyncSession, token_id: int) -> ApiToken:
    row = await session.get(ApiToken, token_id)
    if row is None:
        from app.errors import NotFound

        raise NotFound("令牌不存在")
    row.revoked_at = row.revoked_at or clock.now()
    return row
