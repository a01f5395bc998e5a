"""Demo traffic: post realistic WorkTool message callbacks (WORKTOOL.md §1) to a running hub.

    python -m app.demo.simulator [--base-url http://127.0.0.1:8000] [--rate 2.0] [--count 0]
                                 [--credentials var/demo_robots.json] [--seed N]

Robots and their webhook tokens come from the credentials file the demo seeder writes. Group
messages are reported by the monitor robot, @-mentions of the robot by the current shift's reply
robot, private chats by the reply robot; a share of group messages is reported by both, a few
hundred milliseconds apart, as happens when several robots sit in one group.

`next_event` and `build_payload` are pure (a seeded `random.Random` gives the same traffic);
everything touching the network lives below the "I/O" line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

import httpx

from app.demo import data

K = TypeVar("K")

PRIVATE_CHANCE = 0.05
SCRIPT_CHANCE = 0.05
MEDIA_CHANCE = 0.08
AT_ROBOT_CHANCE = 0.15
DUAL_REPORT_CHANCE = 0.25
FORM_CHANCE = 0.10
FOLLOW_UP_CHANCE = 0.6
REFUSAL_SHARE = 0.2
DUAL_DELAY_MS = (80, 400)
DAY_SHIFT_HOURS = range(9, 21)

ROLE_WEIGHTS: dict[str, int] = {"user": 70, "assistant": 10, "after_sales": 10, "operator": 8}
CATEGORY_WEIGHTS: dict[str, dict[str, int]] = {
    "user": {
        "chat_daily": 28,
        "chat_inquiry": 16,
        "chat_after_sales": 12,
        "chat_complaint": 5,
        "chat_private_operation": 4,
        "chat_cooperation": 10,
        "chat_complain_discuss": 10,
        "chat_other": 6,
    },
    "assistant": {"staff_reply_user": 4, "staff_at_user": 2, "staff_ask_user": 3, "staff_other": 2},
    "after_sales": {"staff_reply_user": 2, "staff_at_user": 5, "staff_ask_user": 2, "staff_other": 1},
    "operator": {"operator_assign_user": 5, "operator_tone_hard": 2, "operator_other": 3},
}
AT_PRONE_KINDS = frozenset({"chat_inquiry", "chat_after_sales", "chat_complaint", "chat_cooperation"})
PRIVATE_KINDS = ("chat_inquiry", "chat_after_sales", "chat_complaint", "chat_daily")
FOLLOWED_KINDS = frozenset({"staff_at_user", "operator_assign_user"})
MEDIA_TEXT_TYPES: dict[int, int] = {2: 5, 3: 3, 5: 2, 8: 2}  # textType → weight
MEDIA_LABELS = {2: "[图片]", 3: "[语音]", 5: "[视频]", 8: "[链接]"}
PRIVATE_ROOM_TYPES = frozenset({2, 4})

SUCCESS_BODY: dict[str, Any] = {"code": 0, "message": "success", "data": {"type": 5000, "info": {"text": ""}}}
MESSAGE_ID_HEADER = "X-Hub-Message-Id"
DEFAULT_BASE_URL = "http://127.0.0.1:8000"


# ── pure part ─────────────────────────────────────────────────────────────────


@dataclass(frozen=True, slots=True)
class Event:
    """One message somebody typed, before it becomes a WorkTool callback body."""

    kind: str  # §3.2 type code, after_sales_response/refusal, media, or script:<name>
    sender: str
    text: str  # what the sender typed, without the robot @-prefix
    group: str = ""  # empty for private chats
    group_remark: str = ""
    room_type: int = 1
    text_type: int = 1
    at_robot: str = ""  # display name of the @-mentioned robot, "" when none
    target: str = ""  # user @-mentioned by staff or an operator
    dual_delay_ms: int | None = None  # a second robot reports it after this delay; None = once
    form: bool = False  # post as application/x-www-form-urlencoded like older set-ups


@dataclass(frozen=True, slots=True)
class SimState:
    queue: tuple[Event, ...] = ()  # lines of a running script and follow-up answers, in order
    next_script: int = 0


def reply_robot(hour: int) -> data.RobotSpec:
    """The reply robot on shift at this local hour (day 09:00–21:00, otherwise night)."""
    return data.robot_by_role("day_reply" if hour in DAY_SHIFT_HOURS else "night_reply")


def _weighted(rng: random.Random, weights: Mapping[K, int]) -> K:
    keys = list(weights)
    return rng.choices(keys, weights=[weights[key] for key in keys])[0]


def _in_group(
    rng: random.Random,
    group: data.GroupSpec,
    sender: str,
    text: str,
    kind: str,
    *,
    at_robot: str = "",
    text_type: int = 1,
    target: str = "",
) -> Event:
    dual = rng.random() < DUAL_REPORT_CHANCE
    return Event(
        kind=kind,
        sender=sender,
        text=text,
        group=group["name"],
        group_remark=group["remark"],
        text_type=text_type,
        at_robot=at_robot,
        target=target,
        dual_delay_ms=rng.randint(*DUAL_DELAY_MS) if dual else None,
        form=rng.random() < FORM_CHANCE,
    )


def _user_event(rng: random.Random, group: data.GroupSpec, hour: int) -> Event:
    sender = rng.choice(group["users"])
    if rng.random() < MEDIA_CHANCE:
        return _in_group(rng, group, sender, "", "media", text_type=_weighted(rng, MEDIA_TEXT_TYPES))
    kind = _weighted(rng, CATEGORY_WEIGHTS["user"])
    text = rng.choice(data.MESSAGE_LIBRARY[kind])
    at_robot = ""
    if kind in AT_PRONE_KINDS and rng.random() < AT_ROBOT_CHANCE:
        at_robot = reply_robot(hour)["name"]
    return _in_group(rng, group, sender, text, kind, at_robot=at_robot)


def _registry_event(rng: random.Random, group: data.GroupSpec, role: str) -> Event:
    sender = rng.choice(data.people_in_group(group["name"], role))["display_name"]
    kind = _weighted(rng, CATEGORY_WEIGHTS[role])
    line = rng.choice(data.MESSAGE_LIBRARY[kind])
    target = rng.choice(group["users"]) if data.USER_PLACEHOLDER in line else ""
    return _in_group(rng, group, sender, data.fill_user(line, target), kind, target=target)


def _group_event(rng: random.Random, hour: int) -> Event:
    group = rng.choice(data.GROUPS)
    role = _weighted(rng, ROLE_WEIGHTS)
    return _user_event(rng, group, hour) if role == "user" else _registry_event(rng, group, role)


def _private_event(rng: random.Random) -> Event:
    sender = rng.choice(rng.choice(data.GROUPS)["users"])
    kind = rng.choice(PRIVATE_KINDS)
    text = rng.choice(data.MESSAGE_LIBRARY[kind])
    return Event(kind=kind, sender=sender, text=text, room_type=2, form=rng.random() < FORM_CHANCE)


def _follow_ups(rng: random.Random, event: Event) -> tuple[Event, ...]:
    """A user answers (or refuses) when staff or an operator @-mentioned them with a task."""
    if event.kind not in FOLLOWED_KINDS or not event.target or rng.random() >= FOLLOW_UP_CHANCE:
        return ()
    answer = "refusal" if rng.random() < REFUSAL_SHARE else "response"
    text = rng.choice(data.USER_RESPONSES[answer])
    group = data.group_by_name(event.group)
    return (_in_group(rng, group, event.target, text, f"after_sales_{answer}"),)


def script_events(rng: random.Random, script: data.ScriptedConversation, hour: int) -> tuple[Event, ...]:
    group = data.group_by_name(script.group)
    events = []
    for sender, line in script.lines:
        text, at_robot = line, ""
        if line.startswith(data.AT_ROBOT):
            text, at_robot = line.removeprefix(data.AT_ROBOT), reply_robot(hour)["name"]
        events.append(_in_group(rng, group, sender, text, f"script:{script.name}", at_robot=at_robot))
    return tuple(events)


def next_event(rng: random.Random, state: SimState, hour: int) -> tuple[Event, SimState]:
    """The next message of the demo world and the state after it (pure given the rng)."""
    if state.queue:
        return state.queue[0], replace(state, queue=state.queue[1:])
    if rng.random() < SCRIPT_CHANCE:
        script = data.SCRIPTS[state.next_script % len(data.SCRIPTS)]
        first, *rest = script_events(rng, script, hour)
        return first, SimState(queue=tuple(rest), next_script=state.next_script + 1)
    if rng.random() < PRIVATE_CHANCE:
        return _private_event(rng), state
    event = _group_event(rng, hour)
    return event, replace(state, queue=_follow_ups(rng, event))


def build_payload(event: Event) -> dict[str, Any]:
    """The WorkTool message-callback body for an event, exactly as WORKTOOL.md §1."""
    raw = f"@{event.at_robot} {event.text}" if event.at_robot else event.text
    return {
        "spoken": event.text,
        "rawSpoken": raw,
        "receivedName": event.sender,
        "groupName": event.group,
        "groupRemark": event.group_remark,
        "roomType": event.room_type,
        "atMe": bool(event.at_robot),
        "textType": event.text_type,
    }


def form_fields(payload: Mapping[str, Any]) -> dict[str, str]:
    """The same body as form-data strings (booleans as true/false)."""
    return {
        key: (str(value).lower() if isinstance(value, bool) else str(value)) for key, value in payload.items()
    }


def reporters(event: Event, hour: int) -> list[str]:
    """robot_ids that report the event, in posting order."""
    reply = reply_robot(hour)["robot_id"]
    if event.room_type in PRIVATE_ROOM_TYPES:
        return [reply]
    monitor = data.robot_by_role("monitor")["robot_id"]
    first, second = (reply, monitor) if event.at_robot else (monitor, reply)
    return [first, second] if event.dual_delay_ms is not None else [first]


def webhook_url(base_url: str, robot_id: str, token: str) -> str:
    path = f"/webhooks/worktool/{quote(robot_id, safe='')}/message"
    return f"{base_url.rstrip('/')}{path}?token={quote(token, safe='')}"


def is_success(status: int, body: Any) -> bool:
    return status == 200 and body == SUCCESS_BODY


def describe_failure(status: int, text: str) -> str:
    """A one-line reason from an error answer (the hub's `message` when it sent one)."""
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("message"):
        return f"code={body.get('code')} {body['message']}"
    snippet = " ".join(text.split())[:120]
    return snippet or f"HTTP {status}"


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def shown_text(event: Event) -> str:
    label = MEDIA_LABELS.get(event.text_type, "") if event.text_type != 1 else ""
    prefix = f"@{event.at_robot} " if event.at_robot else ""
    return _cut(label + prefix + event.text, 46)


# ── credentials ───────────────────────────────────────────────────────────────


class CredentialsError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Endpoint:
    robot_id: str
    role: str
    url: str


def _robot_url(robot: Mapping[str, Any], base_url: str | None, file_base: str) -> str:
    robot_id, token = str(robot["robot_id"]), robot.get("token")
    if base_url is None and robot.get("message_url"):
        return str(robot["message_url"])
    if not token:
        raise CredentialsError(f"机器人 {robot_id} 缺少 token / robot {robot_id} has no token")
    return webhook_url(base_url or file_base, robot_id, str(token))


def parse_credentials(raw: Mapping[str, Any], base_url: str | None) -> tuple[str, dict[str, Endpoint]]:
    """(hub base URL, robot_id → endpoint) from the seeder's credentials document."""
    robots = raw.get("robots")
    if not isinstance(robots, list) or not robots:
        raise CredentialsError("凭据文件里没有机器人 / no robots in the credentials file")
    file_base = str(raw.get("base_url") or "")
    endpoints: dict[str, Endpoint] = {}
    for robot in robots:
        if not isinstance(robot, dict) or "robot_id" not in robot:
            raise CredentialsError("凭据文件格式错误 / malformed robot entry in the credentials file")
        url = _robot_url(robot, base_url, file_base or DEFAULT_BASE_URL)
        endpoints[str(robot["robot_id"])] = Endpoint(str(robot["robot_id"]), str(robot.get("role", "")), url)
    if not base_url and not file_base:
        parts = urlsplit(next(iter(endpoints.values())).url)
        file_base = f"{parts.scheme}://{parts.netloc}"
    return (base_url or file_base).rstrip("/"), endpoints


def load_credentials(path: Path, base_url: str | None) -> tuple[str, dict[str, Endpoint]]:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise CredentialsError(
            f"找不到演示机器人凭据文件 {path}，请先运行 make run（会写入演示数据）"
            "或 python -m app.cli seed-demo。\n"
            f"Credentials file {path} not found: run `make run` (or `python -m app.cli seed-demo`) first."
        ) from exc
    except (OSError, ValueError) as exc:
        raise CredentialsError(f"无法读取凭据文件 {path} / cannot read credentials file: {exc}") from exc
    if not isinstance(raw, dict):
        raise CredentialsError("凭据文件必须是 JSON 对象 / credentials file must be a JSON object")
    return parse_credentials(raw, base_url)


# ── I/O ───────────────────────────────────────────────────────────────────────


@dataclass(frozen=True, slots=True)
class PostResult:
    robot_id: str
    status: int | None  # None: no HTTP answer (connection failed)
    message_id: str
    error: str

    @property
    def ok(self) -> bool:
        return not self.error


@dataclass(slots=True)
class Stats:
    events: int = 0
    posts: int = 0
    ok: int = 0
    failed: int = 0
    dual_reports: int = 0
    merged: int = 0  # dual reports the hub stored once (same message id)
    statuses: Counter[str] = field(default_factory=Counter)
    started: float = field(default_factory=time.monotonic)

    def record(self, result: PostResult) -> None:
        self.posts += 1
        self.ok += result.ok
        self.failed += not result.ok
        self.statuses[str(result.status) if result.status is not None else "连接失败"] += 1


@dataclass(frozen=True, slots=True)
class Config:
    base_url: str
    endpoints: dict[str, Endpoint]
    rate: float
    count: int
    seed: int | None


def format_line(moment: datetime, event: Event, result: PostResult, copy: bool) -> str:
    place = "私聊" if event.room_type in PRIVATE_ROOM_TYPES else event.group
    status = result.status if result.status is not None else "---"
    mark = "↻" if copy else " "
    body = "form" if event.form else "json"
    line = (
        f"{moment:%H:%M:%S} {mark} {place} │ {event.sender}: {shown_text(event)} │ {status} "
        f"id={result.message_id or '-'} │ {result.robot_id} {body}"
    )
    return f"{line}  ✗ {result.error}" if result.error else line


def format_summary(stats: Stats) -> str:
    elapsed = max(time.monotonic() - stats.started, 0.001)
    statuses = ", ".join(f"{code}×{n}" for code, n in sorted(stats.statuses.items())) or "-"
    return "\n".join(
        [
            "── 汇总 / summary ──",
            f"消息 events: {stats.events}   上报 posts: {stats.posts}   成功 ok: {stats.ok}   "
            f"失败 failed: {stats.failed}",
            f"双机器人上报 dual reports: {stats.dual_reports}   被去重合并 merged: {stats.merged}",
            f"HTTP 状态 statuses: {statuses}",
            f"用时 elapsed: {elapsed:.1f} s   速率 rate: {stats.events / elapsed:.2f} 条/s",
        ]
    )


async def post_report(client: httpx.AsyncClient, endpoint: Endpoint, event: Event) -> PostResult:
    payload = build_payload(event)
    try:
        if event.form:
            response = await client.post(endpoint.url, data=form_fields(payload))
        else:
            response = await client.post(endpoint.url, json=payload)
    except httpx.HTTPError as exc:
        return PostResult(endpoint.robot_id, None, "", f"连接失败 / request failed: {type(exc).__name__}")
    message_id = response.headers.get(MESSAGE_ID_HEADER, "")
    try:
        body = response.json()
    except ValueError:
        body = None
    error = (
        ""
        if is_success(response.status_code, body)
        else describe_failure(response.status_code, response.text)
    )
    return PostResult(endpoint.robot_id, response.status_code, message_id, error)


def _show(stats: Stats, event: Event, result: PostResult, copy: bool) -> None:
    stats.record(result)
    print(format_line(datetime.now(), event, result, copy), flush=True)


async def _post_copy(
    client: httpx.AsyncClient, endpoint: Endpoint, event: Event, first: PostResult, stats: Stats
) -> None:
    """The second robot of the group reports the same message a moment later."""
    await asyncio.sleep((event.dual_delay_ms or 0) / 1000)
    result = await post_report(client, endpoint, event)
    _show(stats, event, result, copy=True)
    stats.dual_reports += 1
    stats.merged += bool(first.message_id) and first.message_id == result.message_id


async def deliver(
    client: httpx.AsyncClient,
    config: Config,
    event: Event,
    hour: int,
    stats: Stats,
    copies: set[asyncio.Task[None]],
) -> bool:
    """Post the event (a dual report's copy runs in the background); False when the hub is unreachable."""
    robot_ids = reporters(event, hour)
    known = [config.endpoints[robot_id] for robot_id in robot_ids if robot_id in config.endpoints]
    if not known:
        print(f"凭据文件中缺少机器人 / robot missing from credentials: {robot_ids}", flush=True)
        return True
    first = await post_report(client, known[0], event)
    _show(stats, event, first, copy=False)
    if len(known) > 1 and event.dual_delay_ms is not None:
        task = asyncio.create_task(_post_copy(client, known[1], event, first, stats))
        copies.add(task)
        task.add_done_callback(copies.discard)
    return first.status is not None


async def wait_for_hub(client: httpx.AsyncClient, base_url: str, timeout_s: float = 30.0) -> bool:
    """True once the hub answers any HTTP request; retries for up to timeout_s."""
    deadline = time.monotonic() + timeout_s
    announced = False
    while True:
        try:
            await client.get(f"{base_url}/", timeout=3.0)
            return True
        except httpx.TransportError:
            if time.monotonic() >= deadline:
                return False
            if not announced:
                print(
                    f"等待 Hub 启动… / waiting for the hub at {base_url} (最多 up to {timeout_s:.0f} s)",
                    flush=True,
                )
                announced = True
            await asyncio.sleep(1.0)


def hub_down_message(base_url: str) -> str:
    return (
        f"无法连接到 Hub：{base_url}。请先启动服务，或用 --base-url 指定地址。\n"
        f"Cannot reach the hub at {base_url}: start it first, or point --base-url at it."
    )


async def run(config: Config, stats: Stats) -> int:
    rng = random.Random(config.seed)
    pacing = random.Random(None if config.seed is None else config.seed + 1)
    state = SimState()
    copies: set[asyncio.Task[None]] = set()
    async with httpx.AsyncClient(timeout=httpx.Timeout(5.0)) as client:
        if not await wait_for_hub(client, config.base_url):
            print(hub_down_message(config.base_url), file=sys.stderr)
            return 2
        while config.count == 0 or stats.events < config.count:
            hour = datetime.now().hour
            event, state = next_event(rng, state, hour)
            reached = await deliver(client, config, event, hour, stats, copies)
            stats.events += 1
            if not reached and not await wait_for_hub(client, config.base_url):
                print(hub_down_message(config.base_url), file=sys.stderr)
                return 2
            if config.count == 0 or stats.events < config.count:
                await asyncio.sleep(pacing.uniform(0.5, 1.5) / config.rate)
        await asyncio.gather(*copies)
    return 0 if stats.failed == 0 else 1


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be > 0")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be >= 0")
    return value


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m app.demo.simulator",
        description="演示流量模拟器：向 Hub 发送逼真的 WorkTool 消息回调 / post demo WorkTool callbacks",
    )
    parser.add_argument("--base-url", default=None, help="hub address, overrides the credentials file's host")
    parser.add_argument("--rate", type=_positive_float, default=2.0, help="messages per second (default 2.0)")
    parser.add_argument("--count", type=_non_negative_int, default=0, help="messages to send, 0 = forever")
    parser.add_argument("--credentials", default="var/demo_robots.json", help="file written by the seeder")
    parser.add_argument("--seed", type=int, default=None, help="random seed for repeatable traffic")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        base_url, endpoints = load_credentials(Path(args.credentials), args.base_url)
    except CredentialsError as exc:
        print(exc, file=sys.stderr)
        return 2
    config = Config(base_url, endpoints, args.rate, args.count, args.seed)
    count = args.count or "∞"
    print(f"演示流量 demo traffic → {base_url}  速率 rate {args.rate}/s  条数 count {count}", flush=True)
    stats = Stats()
    code = 130
    try:
        code = asyncio.run(run(config, stats))
    except KeyboardInterrupt:
        print("\n已停止 / stopped (Ctrl-C)", flush=True)
    if stats.posts:
        print(format_summary(stats), flush=True)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
