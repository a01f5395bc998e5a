"""After-sales pure rules: assignment scoring, task text rules, settings and templates, report maths."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest

from app.aftersales.assignment import Candidate, choose
from app.aftersales.charts import bar_chart, stacked_bar
from app.aftersales.config import DEFAULT_TEMPLATES, STATUS_TEMPLATE, AfterSalesSettings, fill, parse_settings
from app.aftersales.report import SHEETS, TaskFacts, compute, efficiency_score, to_csv, to_xlsx
from app.aftersales.textrules import has_task_words, lowered, mentions, says_done, task_type_of
from app.errors import InvalidInput

T0 = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)


def cand(
    i: int,
    name: str,
    skills: tuple[str, ...] = (),
    status: str = "online",
    load: int = 0,
    last: int | None = None,
) -> Candidate:
    return Candidate(
        i, name, skills, status, load, T0 + timedelta(minutes=last) if last is not None else None
    )


# ── assignment ──


def test_skill_match_beats_status_and_workload() -> None:
    choice = choose("扫码登录", [cand(1, "甲", (), "online", 0), cand(2, "乙", ("扫码登录",), "offline", 5)])
    assert choice.staff is not None and choice.staff.name == "乙"
    assert choice.reason.startswith("技能匹配（扫码登录）")


def test_status_then_workload_then_round_robin() -> None:
    online_busy = choose(
        "实名认证", [cand(1, "甲", ("实名认证",), "busy", 0), cand(2, "乙", ("实名认证",), "online", 3)]
    )
    assert online_busy.staff is not None and online_busy.staff.name == "乙"
    lighter = choose(
        "实名认证", [cand(1, "甲", ("实名认证",), "online", 2), cand(2, "乙", ("实名认证",), "online", 1)]
    )
    assert lighter.staff is not None and lighter.staff.name == "乙"
    assert "工作负载最少（1 个未完成）" in lighter.reason and "轮询" not in lighter.reason
    tie = choose(
        "实名认证",
        [
            cand(1, "甲", ("实名认证",), "online", 1, last=5),
            cand(2, "乙", ("实名认证",), "online", 1, last=1),
        ],
    )
    assert tie.staff is not None and tie.staff.name == "乙" and tie.reason.endswith("同等条件轮询")
    never = choose("实名认证", [cand(1, "甲", ("实名认证",), last=1), cand(2, "乙", ("实名认证",))])
    assert never.staff is not None and never.staff.name == "乙"


def test_no_skill_anywhere_and_no_staff() -> None:
    choice = choose("发作品", [cand(1, "甲", ("扫码登录",), "offline", 0), cand(2, "乙", (), "online", 2)])
    assert choice.staff is not None and choice.staff.name == "乙"
    assert choice.reason.startswith("无人具备「发作品」技能")
    empty = choose("发作品", [])
    assert empty.staff is None and empty.reason == "暂无可分配的售后人员"


# ── text rules ──


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("@张三 麻烦扫一下码登录", "扫码登录"),
        ("@李四 请完成实名认证，准备好身份证", "实名认证"),
        ("视频号需要扫码认证一下", "视频号认证"),
        ("@王五 手机号换绑一下", "绑定手机"),
        ("今天记得发作品哦", "发作品"),
        ("@赵六 拍个视频发我", "自拍视频"),
        ("@钱七 在吗", "其他"),
    ],
)
def test_task_type_of(text: str, expected: str) -> None:
    assert task_type_of(text) == expected


def test_mentions_and_words() -> None:
    assert mentions("@张三 @李四\u2005麻烦扫码 @张三") == ["张三", "李四"]
    assert has_task_words("@张三 麻烦扫一下码") and not has_task_words("@张三 早上好")
    assert says_done("@张三 已经弄好了，谢谢配合") and not says_done("@张三 麻烦扫码")
    assert [lowered(x) for x in ("high", "medium", "low", "unknown")] == ["medium", "low", "low", "low"]


# ── settings and templates ──


def test_settings_validate_and_default() -> None:
    s = parse_settings({"response_wait_seconds": "120", "max_reminders": 3, "managers": "王总, 李总"})
    assert s.response_wait_seconds == 120.0 and s.max_reminders == 3 and s.managers == ["王总", "李总"]
    assert parse_settings(None) == AfterSalesSettings()
    with pytest.raises(InvalidInput, match="response_wait_seconds"):
        parse_settings({"response_wait_seconds": "-1"})
    with pytest.raises(InvalidInput, match="report_time"):
        parse_settings({"report_time": "25:00"})
    with pytest.raises(InvalidInput, match="未知的模板"):
        parse_settings({"templates": {"nope": "x"}})


def test_comfort_templates_by_staff_status() -> None:
    assert {STATUS_TEMPLATE[s] for s in ("online", "busy", "offline")} == {
        "comfort_staff_online",
        "comfort_staff_busy",
        "comfort_staff_offline",
    }
    assert DEFAULT_TEMPLATES["comfort_staff_online"] == "好的，请稍等，售后人员马上就来处理 👍"
    assert "已通知售后人员" in DEFAULT_TEMPLATES["comfort_staff_offline"]
    edited = parse_settings({"templates": {"comfort_staff_busy": "{user_name} 稍等，{staff_name} 忙完就来"}})
    assert edited.templates["comfort_staff_online"] == DEFAULT_TEMPLATES["comfort_staff_online"]
    assert (
        fill(edited.templates["comfort_staff_busy"], {"user_name": "张三"})
        == "张三 稍等，{staff_name} 忙完就来"
    )


# ── report maths ──


def facts() -> list[TaskFacts]:
    def f(
        i: int,
        status: str,
        staff: str | None,
        coop: str,
        resp: str,
        at: int | None,
        responded: int | None,
        done: int | None,
    ) -> TaskFacts:
        return TaskFacts(
            id=i,
            task_type="扫码登录" if i % 2 else "实名认证",
            group="群1",
            user=f"用户{i}",
            status=status,
            staff=staff,
            cooperation=coop,
            response_status=resp,
            created_at=T0,
            staff_at=T0 + timedelta(seconds=at) if at is not None else None,
            responded_at=T0 + timedelta(seconds=responded) if responded is not None else None,
            completed_at=T0 + timedelta(seconds=done) if done is not None else None,
        )

    return [
        f(1, "completed", "甲", "high", "responded", 0, 60, 600),
        f(2, "completed", "甲", "medium", "responded", 0, 180, 3600),
        f(3, "timeout", "乙", "low", "timeout", 0, None, None),
        f(4, "waiting_user_response", "乙", "low", "refused", 0, 30, None),
        f(5, "pending", None, "unknown", "pending", None, None, None),
    ]


def test_report_counts_rates_and_medians() -> None:
    r = compute("2026-11-25", facts())
    assert (r["created"], r["completed"], r["open"], r["timed_out"], r["refused"]) == (5, 2, 2, 1, 1)
    assert r["at_user"] == 4 and r["responded"] == 2 and r["response_rate"] == 0.5
    assert r["median_response_seconds"] == 120.0  # 60 and 180
    assert r["median_completion_seconds"] == 2100.0  # 600 and 3600
    assert r["cooperation"] == {"high": 1, "medium": 1, "low": 2, "unknown": 1}
    assert r["by_type"]["扫码登录"] == 3 and r["by_type"]["实名认证"] == 2
    assert sum(r["hourly_created"]) == 5 and r["unassigned"] == 1
    jia = next(s for s in r["staff"] if s["staff"] == "甲")
    assert jia["tasks"] == 2 and jia["completion_rate"] == 1.0 and jia["median_handling_seconds"] == 2100.0
    assert jia["efficiency_score"] == round(100 * (0.7 + 0.3 * 1800 / 2100))
    yi = next(s for s in r["staff"] if s["staff"] == "乙")
    assert yi["completed"] == 0 and yi["efficiency_score"] == 0


def test_empty_day_and_efficiency_edges() -> None:
    r = compute("2026-11-25", [])
    assert r["created"] == 0 and r["response_rate"] is None and r["median_response_seconds"] is None
    assert efficiency_score(0, 0, None) is None
    assert efficiency_score(2, 2, 600) == 100
    assert efficiency_score(4, 2, None) == round(100 * (0.7 * 0.5 + 0.3))


def test_csv_and_xlsx_carry_every_section() -> None:
    r = compute("2026-11-25", facts())
    text = to_csv(r)
    assert text.startswith("\ufeff") and all(f"# {name}" in text for name in SHEETS)
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(to_xlsx(r)))
    assert book.sheetnames == list(SHEETS)
    assert book["汇总"]["B1"].value == "2026-11-25"
    assert [c.value for c in book["售后人员"][1]][:2] == ["售后人员", "任务数"]


def test_charts_are_svg_and_escape_labels() -> None:
    svg = bar_chart([("<b>", 3), ("乙", 1)], "标题")
    assert svg.startswith("<svg") and "&lt;b&gt;" in svg and "<b>" not in svg
    assert "50%" in stacked_bar([("高", 1), ("低", 1)], "配合度")


async def test_render_text_prefers_the_library_and_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    from app.aftersales import config

    settings = parse_settings({"templates": {"conciliation": "{operator_name} 别急，我们来帮 {user_name}"}})

    async def library(session: object, key: str, **variables: str) -> str:
        return f"库:{key}:{variables.get('user_name')}"

    monkeypatch.setattr(config, "_library", lambda: library)
    assert await config.render_text(None, "comfort_staff_online", settings, user_name="张三") == (  # type: ignore[arg-type]
        "库:comfort_staff_online:张三"
    )

    async def broken(session: object, key: str, **variables: str) -> str:
        raise RuntimeError("no such template")

    monkeypatch.setattr(config, "_library", lambda: broken)
    text = await config.render_text(None, "conciliation", settings, user_name="张三", operator_name="王总")  # type: ignore[arg-type]
    assert text == "王总 别急，我们来帮 张三"
    monkeypatch.setattr(config, "_library", lambda: None)
    assert (
        await config.render_text(None, "comfort_staff_offline", settings)
        == DEFAULT_TEMPLATES["comfort_staff_offline"]
    )  # type: ignore[arg-type]


def test_staff_status_from_override_hours_and_activity() -> None:
    from app import clock
    from app.aftersales.models import AfterSalesStaff
    from app.aftersales.staff import derive_status

    settings = AfterSalesSettings()
    local_noon = clock.to_local(T0).replace(hour=12, minute=0)
    now = local_noon.astimezone(UTC)

    def staff(**kw: object) -> AfterSalesStaff:
        base: dict[str, object] = {
            "name": "甲",
            "work_start": "09:00",
            "work_end": "21:00",
            "status_override": None,
        }
        return AfterSalesStaff(**{**base, **kw})

    active = staff(last_active_at=now - timedelta(minutes=5))
    assert derive_status(active, 0, now, settings) == "online"
    assert derive_status(active, settings.busy_threshold, now, settings) == "busy"
    assert derive_status(staff(last_active_at=now - timedelta(hours=2)), 0, now, settings) == "offline"
    assert derive_status(staff(last_active_at=None), 0, now, settings) == "offline"
    night = staff(work_start="21:00", work_end="09:00", last_active_at=now)
    assert derive_status(night, 0, now, settings) == "offline"  # outside its (overnight) hours
    assert derive_status(staff(status_override="busy", last_active_at=None), 0, now, settings) == "busy"
