"""Command line: migrate, create users and robots, seed the demo, print settings.

python -m app.cli migrate
python -m app.cli create-admin [--username admin] [--password …]
python -m app.cli create-robot --robot-id ID --name NAME --role monitor [--token …]
python -m app.cli seed-demo
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from alembic import command
from alembic.config import Config

from app.config import ROOT, ConfigError, get_settings


def alembic_config(database_url: str | None = None) -> Config:
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    if database_url:
        cfg.attributes["database_url"] = database_url
    return cfg


def migrate(revision: str = "head") -> None:
    settings = get_settings()
    if settings.is_sqlite:
        path = settings.sync_database_url.removeprefix("sqlite:///")
        if path and path != ":memory:":
            from pathlib import Path

            Path(path).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(settings.sync_database_url), revision)
    asyncio.run(_after_migrate())


async def _after_migrate() -> None:
    from app.db import close_db, get_db
    from app.flows.service import ensure_default_flow

    async with get_db().transaction() as session:
        await ensure_default_flow(session)
    await close_db()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.cli", description="WorkTool AI Hub 管理命令")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="升级数据库结构到最新版本，并写入默认流程")
    down = sub.add_parser("downgrade", help="回退数据库结构")
    down.add_argument("revision", default="-1", nargs="?")
    admin = sub.add_parser("create-admin", help="创建管理员（已存在则跳过）")
    admin.add_argument("--username", default="admin")
    admin.add_argument("--password", default=None)
    user = sub.add_parser("create-user", help="创建控制台用户")
    user.add_argument("--username", required=True)
    user.add_argument("--password", required=True)
    user.add_argument("--role", required=True, choices=["admin", "supervisor", "agent", "qa", "viewer"])
    user.add_argument("--display-name", default=None)
    robot = sub.add_parser("create-robot", help="登记机器人并打印回调地址")
    robot.add_argument("--robot-id", required=True)
    robot.add_argument("--name", required=True)
    robot.add_argument("--role", required=True, choices=["monitor", "notify", "day_reply", "night_reply"])
    robot.add_argument("--group", action="append", default=[])
    robot.add_argument("--token", default=None, help="指定令牌（基准测试/自动化用）；默认随机生成")
    robot.add_argument("--base-url", default=None)
    sub.add_parser("seed-demo", help="写入演示数据（管理员、4 个机器人、3 个群及人员）")
    sub.add_parser("check-config", help="校验环境变量配置")
    args = parser.parse_args(argv)
    try:
        settings = get_settings()
    except ConfigError as exc:
        print(f"配置错误：{exc}", file=sys.stderr)
        return 2
    from app import admin_tasks

    if args.command == "migrate":
        migrate()
        print("数据库已是最新结构。")
    elif args.command == "downgrade":
        command.downgrade(alembic_config(settings.sync_database_url), args.revision)
    elif args.command == "create-admin":
        print(asyncio.run(admin_tasks.create_admin(args.username, args.password)))
    elif args.command == "create-user":
        print(
            asyncio.run(
                admin_tasks.create_console_user(args.username, args.password, args.role, args.display_name)
            )
        )
    elif args.command == "create-robot":
        print(
            asyncio.run(
                admin_tasks.register_robot(
                    args.robot_id, args.name, args.role, args.group, args.token, args.base_url
                )
            )
        )
    elif args.command == "seed-demo":
        print(asyncio.run(admin_tasks.seed_demo()))
    elif args.command == "check-config":
        mode = "嵌入式（进程内任务）" if settings.embedded else "Redis + 独立 worker"
        print(f"配置有效：数据库 {settings.database_url.split('://')[0]}，{mode}，时区 {settings.tz_name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
