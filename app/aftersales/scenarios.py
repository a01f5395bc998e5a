"""`make eval` (after-sales): scripted group conversations through the real webhook and pipeline.

Starts an embedded hub (SQLite, in-process jobs, HUB_TIME_SCALE=0.01) in a subprocess, registers
robots and four after-sales agents, then plays each scenario: WorkTool message callbacks posted to
the webhook, the hub's own API read back. Reported:

- response-monitor accuracy: after each scripted user reply (or silence), the task's
  user_response_status is the expected one (responded | refused | pending | timeout);
- assignment-rule conformance: every auto-assigned task went to the agent the documented rule
  (docs/after-sales.md: skill → status → workload → round-robin) picks, computed here independently
  from the agents' skills, status, open tasks and last assignment just before the task was created;
- task creation, conflicts and comfort replies as further checks.

Exits 1 when response-monitor accuracy < 0.95 or assignment conformance < 100 %.
"""

from __future__ import annotations

import argparse
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
TIME_SCALE = 0.01
SETTINGS = {"response_wait_seconds": 300, "reminder_interval_seconds": 200, "max_reminders": 1}
STAFF = {
    "售后阿明": ["扫码登录", "视频号认证"],
    "售后小芳": ["实名认证", "绑定手机"],
    "售后老周": ["发作品", "自拍视频", "扫码登录"],
    "售后小陈": [],
}
STATUS_RANK = {"online": 0, "busy": 1, "offline": 2}
TARGETS = {"response_accuracy": 0.95, "assignment_conformance": 1.0}


@dataclass
class Step:
    sender: str
    text: str
    expect_task: str | None = None  # user whose task this step creates (assignment checked)
    expect_response: tuple[str, str] | None = None  # (user, user_response_status) after this step
    expect_status: tuple[str, str] | None = None  # (user, task status) after this step
    expect_conflict: bool = False
    expect_no_task: str | None = None  # user who must have no task after this step
    expect_comfort: bool = False
    wait_silence: bool = False  # wait for the monitor's time-out before checking


@dataclass
class Scenario:
    name: str
    steps: list[Step]
    statuses: dict[str, str] = field(default_factory=dict)  # agent status overrides (default online)


def _respond(name: str, user: str, staff: str, ask: str, answer: str, expected: str) -> Scenario:
    return Scenario(
        name,
        [
            Step(staff, f"@{user} {ask}", expect_task=user, expect_response=(user, "pending")),
            Step(user, answer, expect_response=(user, expected), expect_comfort=expected == "responded"),
        ],
    )


def scenarios() -> list[Scenario]:
    s: list[Scenario] = []
    responses = [
        ("扫一下码登录", "在的"),
        ("麻烦做一下实名认证", "好的"),
        ("视频号需要认证一下", "收到"),
        ("手机号绑定一下", "马上"),
        ("今天发个作品", "来了来了"),
        ("拍个自拍视频发群里", "可以的"),
        ("扫码登录一下", "行"),
        ("实名认证麻烦弄下", "是的，我在"),
        ("二维码发你了，扫一下", "在呢"),
        ("绑定一下手机号", "好嘞👌"),
    ]
    for i, (ask, answer) in enumerate(responses, 1):
        s.append(_respond(f"响应-{i} {answer}", f"号主R{i}", "售后阿明", ask, answer, "responded"))
    refusals = [
        ("扫一下码登录", "不弄了"),
        ("麻烦做一下实名认证", "没空，别烦我"),
        ("视频号认证一下", "算了不搞了"),
        ("拍个视频", "不想弄了，太麻烦"),
        ("发作品", "没时间搞这个"),
        ("手机号换绑一下", "别催了，我不弄"),
    ]
    for i, (ask, answer) in enumerate(refusals, 1):
        s.append(_respond(f"拒绝-{i} {answer}", f"号主X{i}", "售后小芳", ask, answer, "refused"))
    others = [
        ("扫一下码登录", "今天天气真不错啊，大家周末去哪玩"),
        ("实名认证一下", "请问收益什么时候结算呀？"),
        ("发个作品", "群主，上次说的线下活动是哪天开始"),
    ]
    for i, (ask, answer) in enumerate(others, 1):
        s.append(_respond(f"无关-{i}", f"号主N{i}", "售后老周", ask, answer, "pending"))
    for i, ask in enumerate(("扫一下码登录", "实名认证一下", "绑定手机号", "发个作品"), 1):
        user = f"号主S{i}"
        s.append(
            Scenario(
                f"沉默超时-{i}",
                [
                    Step("售后阿明", f"@{user} {ask}", expect_task=user, expect_response=(user, "pending")),
                    Step(
                        "",
                        "",
                        expect_response=(user, "timeout"),
                        expect_status=(user, "timeout"),
                        wait_silence=True,
                    ),
                ],
            )
        )
    user_asks = [
        ("我的号登录不上了，要扫码吗", "扫码登录"),
        ("实名认证一直失败怎么办", "实名认证"),
        ("视频号认证怎么弄", "视频号认证"),
        ("手机号换了，怎么重新绑定", "绑定手机"),
    ]
    for i, (text, _type) in enumerate(user_asks, 1):
        user = f"号主U{i}"
        s.append(
            Scenario(
                f"用户发起-{i}",
                [
                    Step(user, text, expect_task=user, expect_status=(user, "pending")),
                    Step(
                        "售后小陈",
                        f"@{user} 好的，麻烦配合一下",
                        expect_status=(user, "waiting_user_response"),
                    ),
                    Step(user, "好的", expect_response=(user, "responded"), expect_comfort=True),
                ],
            )
        )
    for i, (ask, answer) in enumerate((("今天把作品发了", "收到老板"), ("去扫码登录一下", "好的马上")), 1):
        user = f"号主O{i}"
        s.append(
            Scenario(
                f"运营安排-{i}",
                [
                    Step("运营王总", f"@{user} {ask}", expect_response=(user, "pending")),
                    Step(user, answer, expect_response=(user, "responded")),
                ],
            )
        )
    for i, (boss, user_text) in enumerate(
        (
            ("你到底做不做？赶紧去扫码，别磨蹭！", "凭什么这么凶，你们什么态度，我不干了😡"),
            ("说了多少遍了还不弄，你是不是不想干了", "你们就是骗子，天天催，我要投诉"),
        ),
        1,
    ):
        user = f"号主C{i}"
        s.append(
            Scenario(
                f"冲突-{i}",
                [Step("运营王总", f"@{user} {boss}"), Step(user, user_text, expect_conflict=True)],
            )
        )
    for i in (1, 2):
        user = f"号主D{i}"
        s.append(
            Scenario(
                f"完成-{i}",
                [
                    Step("售后阿明", f"@{user} 扫一下码登录", expect_task=user),
                    Step(user, "在的", expect_response=(user, "responded")),
                    Step("售后阿明", f"@{user} 已经弄好了，谢谢配合", expect_status=(user, "completed")),
                ],
            )
        )
    s.append(
        Scenario(
            "劝说后响应",
            [
                Step("售后小芳", "@号主P1 麻烦做一下实名认证", expect_task="号主P1"),
                Step("号主P1", "不弄了，别烦我", expect_response=("号主P1", "refused")),
                Step("售后小芳", "@号主P1 只要两分钟，配合一下好吗", expect_response=("号主P1", "pending")),
                Step("号主P1", "好吧，来了", expect_response=("号主P1", "responded"), expect_comfort=True),
            ],
        )
    )
    s.append(
        Scenario(
            "寒暄不建任务",
            [
                Step("售后小芳", "@号主G1 早上好呀", expect_no_task="号主G1"),
                Step("号主G1", "早上好", expect_no_task="号主G1"),
            ],
        )
    )
    # Assignment under different agent states (statuses overridden for the scenario).
    s.append(
        Scenario(
            "分配-忙碌让位",
            [Step("售后小陈", "@号主A1 扫一下码登录", expect_task="号主A1")],
            {"售后阿明": "busy", "售后老周": "online"},
        )
    )
    s.append(
        Scenario(
            "分配-离线让位",
            [Step("售后小陈", "@号主A2 实名认证一下", expect_task="号主A2")],
            {"售后小芳": "offline"},
        )
    )
    s.append(
        Scenario(
            "分配-负载",
            [
                Step("售后小陈", "@号主A3 扫一下码登录", expect_task="号主A3"),
                Step("售后小陈", "@号主A4 扫一下码登录", expect_task="号主A4"),
                Step("售后小陈", "@号主A5 扫一下码登录", expect_task="号主A5"),
            ],
        )
    )
    s.append(
        Scenario(
            "分配-无技能",
            [Step("售后小陈", "@号主A6 帮忙处理一下账号", expect_task="号主A6")],
            {"售后阿明": "offline", "售后小芳": "offline", "售后老周": "busy"},
        )
    )
    return s


# ── the hub under test ────────────────────────────────────────────────────────


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Hub:
    def __init__(self, workdir: Path) -> None:
        self.port = _free_port()
        self.token = "eval-" + secrets.token_hex(8)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HUB_", "REDIS_URL", "DATABASE_URL"))}
        env.update(
            DATABASE_URL=f"sqlite:///{workdir / 'hub.db'}",
            HUB_API_TOKEN=self.token,
            SECRET_KEY=secrets.token_hex(32),
            HUB_ADMIN_PASSWORD=secrets.token_urlsafe(16),
            HUB_TIME_SCALE=str(TIME_SCALE),
            WORKTOOL_API_BASE="http://127.0.0.1:9",
            PYTHONUNBUFFERED="1",
        )
        self.env = env
        self.log = workdir / "hub.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        subprocess.run(
            [sys.executable, "-m", "app.cli", "migrate"],
            cwd=ROOT,
            env=self.env,
            check=True,
            capture_output=True,
        )
        args = [
            sys.executable,
            "-m",
            "uvicorn",
            "app.main:app_factory",
            "--factory",
            "--port",
            str(self.port),
        ]
        self.proc = subprocess.Popen(  # noqa: S603 (our own interpreter and module)
            args, cwd=ROOT, env=self.env, stdout=self.log.open("wb"), stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base}/ready", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise SystemExit(f"hub did not start:\n{self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(15)

    def api(self) -> httpx.Client:
        return httpx.Client(base_url=self.base, headers={"Authorization": f"Bearer {self.token}"}, timeout=15)


def _wait(check: Any, timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


# ── the independent rule ──────────────────────────────────────────────────────


def expected_assignee(task_type: str, staff: list[dict[str, Any]], last: dict[str, str]) -> str | None:
    """The documented rule, re-implemented here: skill, status, workload, least recently assigned."""
    if not staff:
        return None

    def key(s: dict[str, Any]) -> tuple[int, int, int, str, int]:
        return (
            0 if task_type in s["skills"] else 1,
            STATUS_RANK[s["status"]],
            s["current_tasks"],
            last.get(s["name"], ""),  # ISO times sort in time order; never assigned sorts first
            s["id"],
        )

    return str(min(staff, key=key)["name"])


def task_type_expected(text: str) -> str:
    from app.aftersales.textrules import task_type_of

    return task_type_of(text)


# ── running ───────────────────────────────────────────────────────────────────


class Runner:
    def __init__(self, hub: Hub, groups: list[str]) -> None:
        self.hub = hub
        self.api = hub.api()
        self.groups = groups
        self.checks: dict[str, list[bool]] = {
            "response": [],
            "assignment": [],
            "task": [],
            "conflict": [],
            "comfort": [],
        }
        self.failures: list[str] = []
        self.staff_ids: dict[str, int] = {}

    def setup(self) -> None:
        for role in ("monitor", "day_reply", "night_reply", "notify"):
            body = {"robot_id": f"eval-{role}", "name": f"评测{role}", "role": role, "groups": self.groups}
            answer = self.api.post("/api/robots", json=body)
            answer.raise_for_status()
            if role == "monitor":
                self.message_url = answer.json()["data"]["callback_urls"]["message"]
        for name, skills in STAFF.items():
            self.api.post(
                "/api/people", json={"display_name": name, "role": "after_sales", "skills": skills}
            ).raise_for_status()
        self.api.post("/api/people", json={"display_name": "运营王总", "role": "operator"}).raise_for_status()
        self.api.put("/api/after-sales/settings", json=SETTINGS).raise_for_status()
        staff = self.api.get("/api/after-sales/staff").json()["data"]["items"]
        self.staff_ids = {s["name"]: s["id"] for s in staff}

    def post(self, group: str, sender: str, text: str) -> int:
        body = {
            "spoken": text,
            "rawSpoken": text,
            "receivedName": sender,
            "groupName": group,
            "roomType": 1,
            "textType": 1,
        }
        answer = httpx.post(self.message_url, json=body, timeout=10)
        answer.raise_for_status()
        message_id = int(answer.headers["X-Hub-Message-Id"])
        _wait(
            lambda: (
                self.api.get(f"/api/messages/{message_id}").json()["data"]["processing_status"] == "processed"
            )
        )
        return message_id

    def task(self, group: str, user: str) -> dict[str, Any] | None:
        items = self.api.get("/api/after-sales/tasks", params={"group": group, "user": user}).json()["data"][
            "items"
        ]
        return items[0] if items else None

    def reset(self, statuses: dict[str, str]) -> None:
        """Close every open task (known workloads) and set the agents' statuses for the scenario."""
        for t in self.api.get("/api/after-sales/tasks", params={"status": "open", "page_size": 200}).json()[
            "data"
        ]["items"]:
            self.api.post(
                f"/api/after-sales/tasks/{t['id']}/status", json={"status": "cancelled", "note": "评测复位"}
            )
        for t in self.api.get(
            "/api/after-sales/tasks", params={"status": "timeout", "page_size": 200}
        ).json()["data"]["items"]:
            self.api.post(
                f"/api/after-sales/tasks/{t['id']}/status", json={"status": "cancelled", "note": "评测复位"}
            )
        for name, staff_id in self.staff_ids.items():
            self.api.put(
                f"/api/after-sales/staff/{staff_id}", json={"status_override": statuses.get(name, "online")}
            )

    def last_assigned(self) -> dict[str, str]:
        last: dict[str, str] = {}
        page = 1
        while True:
            data = self.api.get("/api/after-sales/tasks", params={"page": page, "page_size": 200}).json()[
                "data"
            ]
            for t in data["items"]:
                if t["assigned_staff"] and t["auto_assigned_at"]:
                    last[t["assigned_staff"]] = max(last.get(t["assigned_staff"], ""), t["auto_assigned_at"])
            if page * 200 >= data["total"]:
                return last
            page += 1

    def check(self, kind: str, ok: bool, what: str) -> None:
        self.checks[kind].append(ok)
        if not ok:
            self.failures.append(f"[{kind}] {what}")

    def play(self, index: int, sc: Scenario) -> None:
        group = f"评测群{index:02d}"
        self.reset(sc.statuses)
        for step in sc.steps:
            expected = None
            if step.expect_task:
                staff = self.api.get("/api/after-sales/staff").json()["data"]["items"]
                expected = expected_assignee(task_type_expected(step.text), staff, self.last_assigned())
            message_id = None
            if step.wait_silence:
                user, want = step.expect_response or ("", "")
                _wait(lambda u=user, w=want: (self.task(group, u) or {}).get("user_response_status") == w, 20)
            else:
                message_id = self.post(group, step.sender, step.text)
            if step.expect_task:
                task = _wait(lambda u=step.expect_task: self.task(group, u))
                self.check("task", task is not None, f"{sc.name}: 未创建任务")
                if task is not None:
                    self.check(
                        "assignment",
                        task["assigned_staff"] == expected,
                        f"{sc.name}: 分配给 {task['assigned_staff']}，规则应为 {expected}"
                        f"（{task['assignment_reason']}）",
                    )
            if step.expect_response:
                user, want = step.expect_response
                task = self.task(group, user)
                got = task["user_response_status"] if task else None
                self.check("response", got == want, f"{sc.name}: 「{step.text}」→ {got}，应为 {want}")
            if step.expect_status:
                user, want = step.expect_status
                task = self.task(group, user)
                got = task["status"] if task else None
                self.check("task", got == want, f"{sc.name}: 任务状态 {got}，应为 {want}")
            if step.expect_no_task:
                self.check("task", self.task(group, step.expect_no_task) is None, f"{sc.name}: 不应创建任务")
            if step.expect_conflict:
                conflicts = self.api.get("/api/after-sales/conflicts", params={"status": "open"}).json()[
                    "data"
                ]["items"]
                self.check("conflict", any(c["group"] == group for c in conflicts), f"{sc.name}: 未识别冲突")
            if step.expect_comfort and message_id is not None:
                items = self.api.get("/api/commands", params={"message_id": message_id}).json()["data"][
                    "items"
                ]
                self.check(
                    "comfort", any(c["kind"] == "comfort" for c in items), f"{sc.name}: 未发送安抚回复"
                )


def rate(values: list[bool]) -> float | None:
    return sum(values) / len(values) if values else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="售后场景评测（真实 webhook 与处理流程）")
    parser.add_argument("--keep", action="store_true", help="保留临时目录（数据库与日志）")
    args = parser.parse_args(argv)
    plays = scenarios()
    workdir = Path(tempfile.mkdtemp(prefix="aftersales-eval-"))
    hub = Hub(workdir)
    started = time.monotonic()
    hub.start()
    try:
        runner = Runner(hub, [f"评测群{i:02d}" for i in range(1, len(plays) + 1)])
        runner.setup()
        for i, sc in enumerate(plays, 1):
            runner.play(i, sc)
    finally:
        hub.stop()
    figures = {kind: rate(values) for kind, values in runner.checks.items()}
    print(f"售后场景评测：{len(plays)} 个脚本化对话，用时 {time.monotonic() - started:.0f} 秒")
    names = {
        "response": "响应监控准确率",
        "assignment": "分配规则符合率",
        "task": "任务创建与状态",
        "conflict": "冲突识别",
        "comfort": "安抚回复发送",
    }
    for kind, label in names.items():
        values = runner.checks[kind]
        value = figures[kind]
        print(f"  {label:<10} {'—' if value is None else f'{value:.3f}'}  ({sum(values)}/{len(values)})")
    for failure in runner.failures:
        print("  ✗", failure)
    if args.keep:
        print(f"临时目录：{workdir}")
    missed = [
        name
        for name, key in (("response_accuracy", "response"), ("assignment_conformance", "assignment"))
        if (figures[key] or 0) < TARGETS[name]
    ]
    if missed:
        print("未达标：" + "、".join(missed))
        return 1
    print("全部达标（响应监控 ≥ 0.95，分配规则 100%）")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
