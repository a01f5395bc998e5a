"""Scenario suite of the alert rules (`make eval`): scripted group conversations posted through the
real webhook of a real hub process (embedded set-up: SQLite, in-process jobs), with time steps
under HUB_TIME_SCALE, each with the expected alerts, levels, escalations and cancellations.

Reports raise, escalation and cancellation accuracy (targets: escalation ≥ 0.95, cancellation
≥ 0.97) and writes var/eval/alerts_scenarios.json.

    python -m app.alerts.scenarios [--scale 0.005] [--only NAME] [--base-url URL --token T]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
STAFF = "客服小美"
OPERATOR = "王老板"
TARGETS = {"escalation": 0.95, "cancellation": 0.97}


# ── the script language ───────────────────────────────────────────────────────


@dataclass(frozen=True)
class Say:
    """A message in the scenario's group: a user by default; STAFF or OPERATOR speak as such."""

    sender: str
    text: str


@dataclass(frozen=True)
class Wait:
    minutes: float


@dataclass(frozen=True)
class Api:
    """An action on the alert of `alert_type` (of `user`): acknowledge | resolve | cancel |
    escalate | bulk_cancel | complete_task; or `create` (a manual alert of that type)."""

    action: str
    alert_type: str
    user: str = "号主A"
    value: Any = None


@dataclass(frozen=True)
class Expect:
    """The alert of `alert_type` for `user` in this scenario's group. `exists=False`: none.
    `category` decides which accuracy it counts for: raise | escalation | cancellation."""

    category: str
    alert_type: str | None
    user: str = "号主A"
    exists: bool = True
    level: int | None = None
    status: str | None = None
    escalations: int | None = None
    reason_has: str | None = None
    count: int | None = None
    suppressed: bool | None = None


Step = Say | Wait | Api | Expect


@dataclass
class Scenario:
    name: str
    title: str
    steps: list[Step]


def u(text: str, who: str = "号主A") -> Say:
    return Say(who, text)


COMPLAINT = "你们就是骗子，割韭菜，我要去投诉你们"
COMPLAINT_2 = "你们公司太坑了，钱到现在都没到账，我要举报"
CHURN = "不干了，我要退群"
CHURN_2 = "真的不做了，明天就退群"
NEG_1 = "唉，又没弄好"
NEG_2 = "真烦，怎么老是出问题"
PRIVATE_OP = "我自己把商品都删了，又重新上架了"
OWN_AFFAIRS = "我的收益怎么少了这么多？"
QUESTION = "请问视频号怎么认证？"
THANKS = "好的，谢谢你们，辛苦了"
STAFF_REPLY = "您好，这个问题我们已经在处理了，请稍等"


def staff(text: str) -> Say:
    return Say(STAFF, text)


SCENARIOS: list[Scenario] = [
    # ── raising and initial levels (§4.1) ──
    Scenario(
        "complaint_p0",
        "用户投诉 → 4 级",
        [u(COMPLAINT), Expect("raise", "complaint", level=4, status="open")],
    ),
    Scenario(
        "complaint_report", "举报、钱没到账 → 4 级", [u(COMPLAINT_2), Expect("raise", "complaint", level=4)]
    ),
    Scenario("churn_l3", "要退群（流失风险）→ 3 级", [u(CHURN), Expect("raise", "churn_risk", level=3)]),
    Scenario(
        "keeps_worsening",
        "情绪持续恶化 → 3 级",
        [u(NEG_1), u(NEG_2), Expect("raise", "negative_emotion", level=3)],
    ),
    Scenario(
        "sharp_drop",
        "情绪急剧恶化（积极 → 强烈负面）→ 4 级",
        [
            u("好的谢谢"),
            u("气死我了，什么破东西！"),
            Expect("raise", "negative_emotion", level=4, reason_has="急剧"),
        ],
    ),
    Scenario(
        "private_op_l2", "号主私自操作 → 2 级", [u(PRIVATE_OP), Expect("raise", "private_operation", level=2)]
    ),
    Scenario(
        "important_question_l2",
        "涉及收益的重要问题 → 2 级",
        [u(OWN_AFFAIRS), Expect("raise", "important_question", level=2)],
    ),
    Scenario(
        "unanswered_l2",
        "提问 18 分钟无人回复 → 未回复 2 级",
        [u(QUESTION), Wait(18), Expect("raise", "unanswered", level=2, reason_has="无人回复")],
    ),
    Scenario(
        "answered_no_alert",
        "提问 2 分钟后客服回复 → 不告警",
        [
            u(QUESTION),
            Wait(2),
            staff("我来帮你看一下，稍等"),
            Wait(18),
            Expect("raise", "unanswered", exists=False),
        ],
    ),
    Scenario(
        "small_talk",
        "寒暄闲聊 → 不告警",
        [u("大家早上好"), u("今天天气真好"), u("好的收到"), Expect("raise", None, exists=False)],
    ),
    Scenario(
        "single_negative", "单条轻微负面 → 不告警", [u("今天有点累"), Expect("raise", None, exists=False)]
    ),
    Scenario(
        "negative_two_users",
        "两个用户各一条负面 → 不产生情绪告警（按用户计）",
        [
            u(NEG_1),
            u(NEG_2, "号主B"),
            Expect("raise", "negative_emotion", exists=False),
            Expect("raise", "negative_emotion", "号主B", exists=False),
        ],
    ),
    Scenario(
        "operator_conflict",
        "运营语气强硬 + 号主不满 → 冲突 4 级",
        [
            Say(OPERATOR, "你们这些号主怎么回事，赶紧给我发作品！"),
            u("凭什么这样说我们"),
            Expect("raise", "operator_conflict", level=4),
        ],
    ),
    # ── grouping / de-duplication (§4.2) ──
    Scenario(
        "complaint_twice",
        "同一投诉重复出现 → 同一条告警，出现 2 次",
        [u(COMPLAINT), u(COMPLAINT_2), Expect("raise", "complaint", level=4, count=1)],
    ),
    Scenario(
        "churn_twice",
        "流失风险重复出现 → 同一条告警升到 4 级",
        [u(CHURN), u(CHURN_2), Expect("escalation", "churn_risk", level=4, escalations=1, count=1)],
    ),
    Scenario(
        "private_op_twice",
        "私自操作重复出现 → 升到 3 级",
        [
            u(PRIVATE_OP),
            u("我又把作品删了几个，重新发了"),
            Expect("escalation", "private_operation", level=3, escalations=1),
        ],
    ),
    # ── escalation by time (§4.2) ──
    Scenario(
        "steps_from_l2",
        "2 级未确认：+30 → 3 级，+60 → 4 级",
        [
            u(PRIVATE_OP),
            Wait(15),
            Expect("escalation", "private_operation", level=2, escalations=0),
            Wait(30),
            Expect("escalation", "private_operation", level=3, escalations=1),
            Wait(30),
            Expect("escalation", "private_operation", level=4, escalations=2),
        ],
    ),
    Scenario(
        "steps_from_l3_capped",
        "3 级未确认：+30 → 4 级，之后不再超过 4 级",
        [
            u(CHURN),
            Wait(45),
            Expect("escalation", "churn_risk", level=4, escalations=1),
            Wait(55),
            Expect("escalation", "churn_risk", level=4, escalations=1),
        ],
    ),
    Scenario(
        "ack_stops_steps",
        "确认后不再按时间升级，2 小时未解决再 +1",
        [
            u(OWN_AFFAIRS),
            Wait(3),
            Api("acknowledge", "important_question"),
            Wait(97),
            Expect("escalation", "important_question", level=2, escalations=0, status="acknowledged"),
            Wait(35),
            Expect("escalation", "important_question", level=3, escalations=1, reason_has=""),
        ],
    ),
    Scenario(
        "steps_from_l2_question",
        "重要问题未确认：45 分钟 3 级，75 分钟 4 级（检查点在两次升级之间）",
        [
            u(OWN_AFFAIRS),
            Wait(45),
            Expect("escalation", "important_question", level=3),
            Wait(30),
            Expect("escalation", "important_question", level=4, escalations=2),
        ],
    ),
    Scenario(
        "worsening_again",
        "流失风险未结束时情绪再次恶化 → +1",
        [u(CHURN), u("真的很生气，太失望了"), Expect("escalation", "churn_risk", level=4, escalations=1)],
    ),
    Scenario(
        "resolved_no_escalation",
        "已解决的告警不再升级",
        [
            u(PRIVATE_OP),
            Wait(3),
            Api("resolve", "private_operation"),
            Wait(45),
            Expect("escalation", "private_operation", level=2, escalations=0, status="resolved"),
        ],
    ),
    Scenario(
        "cancelled_no_escalation",
        "已取消的告警不再升级",
        [
            u(CHURN),
            Wait(3),
            staff("@号主A 您好，有什么问题我来帮您处理"),
            Wait(45),
            Expect("escalation", "churn_risk", level=3, escalations=0, status="cancelled"),
        ],
    ),
    Scenario(
        "manual_escalate",
        "人工升级 2 → 4 级，记入升级历史",
        [
            u(PRIVATE_OP),
            Api("escalate", "private_operation", value=4),
            Expect("escalation", "private_operation", level=4, escalations=1),
        ],
    ),
    Scenario(
        "anti_fatigue",
        "同一用户当天第 4 条告警只记 1 级、不推送、不升级",
        [
            u("大家好"),
            Api("create", "important_question"),
            Api("create", "private_operation"),
            Api("create", "manual"),
            u(CHURN),
            Expect("escalation", "churn_risk", level=1, suppressed=True),
            Wait(45),
            Expect("escalation", "churn_risk", level=1, escalations=0),
        ],
    ),
    Scenario(
        "anti_fatigue_complaint_exempt",
        "防疲劳不适用于投诉",
        [
            u("大家好"),
            Api("create", "important_question"),
            Api("create", "private_operation"),
            Api("create", "manual"),
            u(COMPLAINT),
            Expect("escalation", "complaint", level=4, suppressed=False),
        ],
    ),
    # ── cancellation (§4.3) ──
    Scenario(
        "staff_at_cancels",
        "客服 @ 用户介入 → 取消",
        [
            u(COMPLAINT),
            staff("@号主A 您好，我们马上帮您处理"),
            Expect("cancellation", "complaint", status="cancelled", reason_has="介入"),
        ],
    ),
    Scenario(
        "staff_reply_cancels",
        "客服在群里回复（未 @）→ 取消",
        [
            u(COMPLAINT),
            staff(STAFF_REPLY),
            Expect("cancellation", "complaint", status="cancelled", reason_has="介入"),
        ],
    ),
    Scenario(
        "positive_cancels",
        "用户情绪转为积极 → 取消",
        [u(COMPLAINT), u(THANKS), Expect("cancellation", "complaint", status="cancelled", reason_has="积极")],
    ),
    Scenario(
        "withdraw_cancels",
        "用户说没事了 → 取消",
        [
            u(CHURN),
            u("没事了，我再想想"),
            Expect("cancellation", "churn_risk", status="cancelled", reason_has="解决"),
        ],
    ),
    Scenario(
        "solved_cancels",
        "用户说解决了 → 取消",
        [
            u(COMPLAINT),
            u("解决了"),
            Expect("cancellation", "complaint", status="cancelled", reason_has="解决"),
        ],
    ),
    Scenario(
        "streak_cancels",
        "连续 3 条情绪正常的消息 → 取消",
        [
            u(NEG_1),
            u(NEG_2),
            u("嗯"),
            u("我看看"),
            u("在弄了"),
            Expect("cancellation", "negative_emotion", status="cancelled", reason_has="连续"),
        ],
    ),
    Scenario(
        "two_neutral_keep",
        "只有 2 条情绪正常的消息 → 不取消",
        [u(COMPLAINT), u("嗯"), u("我看看"), Expect("cancellation", "complaint", status="open")],
    ),
    Scenario(
        "not_solved_keep",
        "用户说还没解决 → 不取消",
        [u(COMPLAINT), u("还没解决"), Expect("cancellation", "complaint", status="open")],
    ),
    Scenario(
        "asked_solved_keep",
        "用户问解决了吗 → 不取消",
        [u(COMPLAINT), u("解决了吗？"), Expect("cancellation", "complaint", status="open")],
    ),
    Scenario(
        "other_user_positive_keep",
        "同群其他用户情绪积极 → 不取消",
        [u(COMPLAINT), u(THANKS, "号主B"), Expect("cancellation", "complaint", status="open")],
    ),
    Scenario(
        "other_user_at_keep",
        "客服 @ 其他用户 → 不取消",
        [
            u(COMPLAINT),
            u("今天要发几个作品？", "号主B"),
            staff("@号主B 今天发两个就行"),
            Expect("cancellation", "complaint", status="open"),
        ],
    ),
    Scenario(
        "manual_cancel",
        "人工取消并填写原因",
        [
            u(COMPLAINT),
            Api("cancel", "complaint", value="已电话沟通，用户满意"),
            Expect("cancellation", "complaint", status="cancelled", reason_has="电话沟通"),
        ],
    ),
    Scenario(
        "bulk_cancel",
        "批量取消",
        [
            u(CHURN),
            u(PRIVATE_OP, "号主B"),
            Api("bulk_cancel", "churn_risk", value=["号主A", "号主B"]),
            Expect("cancellation", "churn_risk", status="cancelled"),
            Expect("cancellation", "private_operation", "号主B", status="cancelled"),
        ],
    ),
    Scenario(
        "unanswered_then_staff",
        "未回复告警后客服回复 → 取消",
        [
            u(QUESTION),
            Wait(18),
            Expect("raise", "unanswered", level=2),
            staff("@号主A 抱歉久等了，我来帮你"),
            Expect("cancellation", "unanswered", status="cancelled"),
        ],
    ),
    Scenario(
        "private_op_staff",
        "私自操作：客服 @ 介入 → 取消",
        [
            u(PRIVATE_OP),
            staff("@号主A 商品不要自己删，我来帮你恢复"),
            Expect("cancellation", "private_operation", status="cancelled"),
        ],
    ),
    Scenario(
        "ack_then_positive",
        "已确认的投诉，用户情绪转好 → 取消",
        [
            u(COMPLAINT),
            Api("acknowledge", "complaint"),
            u(THANKS),
            Expect("cancellation", "complaint", status="cancelled"),
        ],
    ),
    Scenario(
        "task_completed",
        "相关售后任务完成 → 取消",
        [
            u(OWN_AFFAIRS),
            Api("complete_task", "important_question"),
            Wait(50),
            Expect("cancellation", "important_question", status="cancelled", reason_has="售后任务"),
        ],
    ),
    Scenario(
        "again_after_cancel",
        "取消后同一问题再次出现 → 新告警",
        [
            u(CHURN),
            staff("@号主A 您好，我来帮您"),
            u(CHURN_2),
            Expect("raise", "churn_risk", status="open", level=3, count=2),
        ],
    ),
    Scenario(
        "private_op_not_cancelled_by_mood",
        "私自操作不因用户情绪好转而取消",
        [u(PRIVATE_OP), u(THANKS), Expect("cancellation", "private_operation", status="open")],
    ),
]


# ── running ───────────────────────────────────────────────────────────────────


@dataclass
class Check:
    scenario: str
    category: str
    ok: bool
    detail: str


@dataclass
class Runner:
    base_url: str
    token: str
    scale: float
    robot: dict[str, str] = field(default_factory=dict)
    suffix: str = field(default_factory=lambda: secrets.token_hex(3))

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.base_url, headers={"Authorization": f"Bearer {self.token}"}, timeout=20
        )

    async def prepare(self) -> None:
        async with self.client() as api:
            robot_id = f"eval-{self.suffix}"
            answer = await api.post(
                "/api/robots",
                json={"robot_id": robot_id, "name": "评测监控", "role": "monitor", "groups": []},
            )
            answer.raise_for_status()
            self.robot = answer.json()["data"]["callback_urls"]
            for name, role in ((STAFF, "assistant"), (OPERATOR, "operator")):
                await api.post("/api/people", json={"display_name": name, "role": role})
            await self._say(api, Say("预热", "大家好"), "评测预热")  # load the models before timing anything
            await self._processed(api, "评测预热", 1)
            # Day and night alike, so the suite does not depend on the hour it runs at.
            (await api.put("/api/settings/alerts", json={"unanswered_night_seconds": 600})).raise_for_status()

    async def run(self, scenario: Scenario) -> list[Check]:
        group = f"评测{scenario.name}-{self.suffix}"
        said = 0
        checks: list[Check] = []
        # The scenario's timeline: a Wait counts from the moment the previous message was posted
        # (the hub times everything from arrival), not from when its processing finished.
        due = time.monotonic()
        async with self.client() as api:
            for step in scenario.steps:
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                if isinstance(step, Say):
                    said += 1
                    due = time.monotonic()
                    await self._say(api, step, group)
                elif isinstance(step, Wait):
                    due += step.minutes * 60 * self.scale
                else:
                    await self._processed(api, group, said)  # the hub keeps a group's order itself
                    if isinstance(step, Api):
                        await self._act(api, group, step)
                    else:
                        checks.append(await self._expect(api, group, scenario.name, step))
        return checks

    async def _say(self, api: httpx.AsyncClient, step: Say, group: str) -> None:
        payload = {
            "spoken": step.text,
            "rawSpoken": step.text,
            "receivedName": step.sender,
            "groupName": group,
            "groupRemark": "",
            "roomType": 1,
            "atMe": False,
            "textType": 1,
        }
        answer = await api.post(self.robot["message"], json=payload)
        answer.raise_for_status()

    async def _processed(self, api: httpx.AsyncClient, group: str, said: int) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            data = (await api.get("/api/messages", params={"group": group, "page_size": 100})).json()["data"]
            done = [m for m in data["items"] if m["processing_status"] in ("processed", "failed")]
            if len(done) >= said:
                return
            await asyncio.sleep(0.05)
        raise RuntimeError(f"{group}: message not processed in time")

    async def _alerts(
        self, api: httpx.AsyncClient, group: str, user: str, kind: str | None
    ) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"user": user, "page_size": 100}
        params["group"] = group
        if kind:
            params["type"] = kind
        return list((await api.get("/api/alerts", params=params)).json()["data"]["items"])

    async def _act(self, api: httpx.AsyncClient, group: str, step: Api) -> None:
        if step.action == "create":
            body = {"type": step.alert_type, "reason": "评测：人工创建", "user": step.user, "group": group}
            (await api.post("/api/alerts", json=body)).raise_for_status()
            return
        users = step.value if step.action == "bulk_cancel" else [step.user]
        found: list[dict[str, Any]] = []
        for user in users:
            found += [
                a
                for a in await self._alerts(api, group, user, None)
                if a["status"] in ("open", "acknowledged")
            ]
        if not found:
            raise RuntimeError(f"{group}: no active alert for {step}")
        target = next((a for a in found if a["type"] == step.alert_type), found[0])
        if step.action == "bulk_cancel":
            answer = await api.post(
                "/api/alerts/bulk-cancel",
                json={"alert_ids": [a["id"] for a in found], "cancel_reason": "评测：批量取消"},
            )
        elif step.action == "cancel":
            answer = await api.post(f"/api/alerts/{target['id']}/cancel", json={"cancel_reason": step.value})
        elif step.action == "escalate":
            answer = await api.post(
                f"/api/alerts/{target['id']}/escalate",
                json={"escalate_to": step.value, "escalate_reason": "评测：人工升级"},
            )
        elif step.action == "complete_task":
            answer = await api.post("/api/after-sales/tasks", json={"target_user": step.user, "group": group})
            answer.raise_for_status()
            task_id = answer.json()["data"]["id"]
            answer = await api.post(f"/api/after-sales/tasks/{task_id}/status", json={"status": "completed"})
        else:
            answer = await api.post(f"/api/alerts/{target['id']}/{step.action}")
        answer.raise_for_status()

    async def _expect(self, api: httpx.AsyncClient, group: str, name: str, e: Expect) -> Check:
        found = await self._alerts(api, group, e.user, e.alert_type)
        if e.alert_type is None:
            found = [a for a in found if a["group"] == group]
        problems: list[str] = []
        if not e.exists:
            if found:
                problems.append(f"不应有告警，实际 {[(a['type'], a['level']) for a in found]}")
        elif not found:
            problems.append(f"缺少 {e.alert_type} 告警")
        else:
            a = found[0]  # newest first
            wanted = {
                "level": e.level,
                "status": e.status,
                "escalation_count": e.escalations,
                "suppressed": e.suppressed,
            }
            for key, value in wanted.items():
                if value is not None and a[key] != value:
                    problems.append(f"{key} 应为 {value}，实际 {a[key]}")
            if e.count is not None and len(found) != e.count:
                problems.append(f"告警条数应为 {e.count}，实际 {len(found)}")
            if e.reason_has:
                text = (
                    (a.get("cancel_reason") or "")
                    + a["reason"]
                    + json.dumps(a["escalation_history"], ensure_ascii=False)
                )
                if e.reason_has not in text:
                    problems.append(f"原因应包含「{e.reason_has}」")
        if problems and found:
            problems.append(f"（原因：{found[0]['reason']}；取消原因：{found[0].get('cancel_reason')}）")
        return Check(name, e.category, not problems, "；".join(problems) or "ok")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_hub(scale: float, workdir: Path) -> tuple[subprocess.Popen[bytes], str, str]:
    token = "eval-" + secrets.token_hex(12)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HUB_", "REDIS_URL", "DATABASE_URL"))}
    env.update(
        DATABASE_URL=f"sqlite:///{workdir / 'hub.db'}",
        HUB_API_TOKEN=token,
        SECRET_KEY=secrets.token_hex(24),
        HUB_ADMIN_PASSWORD=secrets.token_hex(12),
        HUB_TIME_SCALE=str(scale),
        WORKTOOL_API_BASE="http://127.0.0.1:9",
        PYTHONUNBUFFERED="1",
    )
    migrate = [sys.executable, "-m", "app.cli", "migrate"]
    subprocess.run(migrate, cwd=ROOT, env=env, check=True, capture_output=True)  # noqa: S603 (our own CLI)
    port = free_port()
    log = (workdir / "hub.log").open("wb")
    proc = subprocess.Popen(  # noqa: S603 (uvicorn with our own app)
        [
            sys.executable,
            "-m",
            "uvicorn",
            "app.main:app_factory",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/ready", timeout=1).status_code == 200:
                return proc, base, token
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    proc.terminate()
    raise RuntimeError("hub did not start: " + (workdir / "hub.log").read_text()[-2000:])


def accuracy(checks: list[Check], category: str) -> tuple[float | None, int]:
    chosen = [c for c in checks if c.category == category]
    return (sum(c.ok for c in chosen) / len(chosen) if chosen else None), len(chosen)


async def run_all(runner: Runner, scenarios: list[Scenario]) -> list[Check]:
    await runner.prepare()
    results = await asyncio.gather(*(runner.run(s) for s in scenarios), return_exceptions=True)
    checks: list[Check] = []
    for scenario, result in zip(scenarios, results, strict=True):
        if isinstance(result, BaseException):
            categories = {s.category for s in scenario.steps if isinstance(s, Expect)}
            checks += [Check(scenario.name, c, False, f"运行失败：{result}") for c in categories]
        else:
            checks += result
    return checks


def report(checks: list[Check], scenarios: list[Scenario], seconds: float, scale: float) -> dict[str, Any]:
    titles = {s.name: s.title for s in scenarios}
    head = f"告警场景评测：{len(scenarios)} 个场景，{len(checks)} 个检查点"
    print(f"{head}（HUB_TIME_SCALE={scale}，用时 {seconds:.1f} 秒）")
    for check in checks:
        mark = "✓" if check.ok else "✗"
        print(
            f"  {mark} [{check.category}] {check.scenario}（{titles[check.scenario]}）"
            + ("" if check.ok else f"：{check.detail}")
        )
    summary: dict[str, Any] = {
        "scenarios": len(scenarios),
        "checks": len(checks),
        "seconds": round(seconds, 1),
        "time_scale": scale,
    }
    for category in ("raise", "escalation", "cancellation"):
        value, n = accuracy(checks, category)
        summary[f"{category}_accuracy"] = value
        summary[f"{category}_checks"] = n
        target = TARGETS.get(category)
        goal = f"（目标 ≥ {target}）" if target else ""
        print(
            f"{category} accuracy: {value:.3f} ({n} checks){goal}" if value is not None else f"{category}: -"
        )
    summary["failures"] = [c.__dict__ for c in checks if not c.ok]
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="告警场景评测（真实 webhook → 流程 → 告警）")
    parser.add_argument(
        "--scale", type=float, default=0.005, help="HUB_TIME_SCALE（默认 0.005：30 分钟 = 9 秒）"
    )
    parser.add_argument("--only", default="", help="只运行名称包含该文字的场景")
    parser.add_argument("--base-url", default="", help="使用已运行的中枢（须以相同 HUB_TIME_SCALE 启动）")
    parser.add_argument("--token", default="")
    parser.add_argument("--out", default=str(ROOT / "var" / "eval" / "alerts_scenarios.json"))
    args = parser.parse_args(argv)
    scenarios = [s for s in SCENARIOS if args.only in s.name]
    started = time.monotonic()
    proc = None
    with tempfile.TemporaryDirectory(prefix="alerts-eval-") as tmp:
        try:
            if args.base_url:
                base, token = args.base_url, args.token
            else:
                proc, base, token = start_hub(args.scale, Path(tmp))
            checks = asyncio.run(run_all(Runner(base, token, args.scale), scenarios))
        finally:
            if proc is not None:
                proc.terminate()
                proc.wait(15)
    summary = report(checks, scenarios, time.monotonic() - started, args.scale)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, ensure_ascii=False, indent=2))
    ok = all(summary[f"{c}_accuracy"] is None or summary[f"{c}_accuracy"] >= t for c, t in TARGETS.items())
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
