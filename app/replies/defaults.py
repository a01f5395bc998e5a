"""Seeded reply templates and their categories (plain data: the migration seeds from it and
render_template falls back to it when a seeded row was deleted)."""

from __future__ import annotations

from typing import Any

CATEGORIES: dict[str, str] = {
    "greeting": "问候",
    "faq": "常见问题解答",
    "inquiry_ack": "咨询应答",
    "after_sales_ack": "售后受理",
    "complaint": "投诉安抚",
    "comfort": "售后安抚（按售后人员状态）",
    "conciliation": "冲突调和",
    "private_operation": "私自操作提醒",
    "operator_assist": "协助运营",
    "night": "夜间应答",
}

# Variables a template may use; the value in brackets is used when the caller gives none.
VARIABLES: dict[str, tuple[str, str]] = {
    "user_name": ("用户（号主）显示名", "亲"),
    "staff_name": ("售后或工作人员名", "工作人员"),
    "task_type": ("售后任务类型，如 扫码登录、实名认证", "相关操作"),
    "group_name": ("群名", "本群"),
    "robot_name": ("机器人名", "小助手"),
    "operator_name": ("运营（财神爷）名", "运营老师"),
    "time": ("当前时间 HH:MM", ""),
}


def _t(key: str, category: str, title: str, text: str, keywords: list[str] | None = None) -> dict[str, Any]:
    return {"key": key, "category": category, "title": title, "text": text, "keywords": keywords or []}


DEFAULT_TEMPLATES: list[dict[str, Any]] = [
    _t("greeting_hello", "greeting", "问候 1", "{user_name}您好～有什么需要帮忙的随时说哦 😊"),
    _t("greeting_here", "greeting", "问候 2", "在的在的，{user_name}请说，我们看到会马上处理～"),
    _t("greeting_morning", "greeting", "问候 3", "{user_name}好呀，今天也辛苦啦，有问题随时找我们 🌞"),
    _t(
        "faq_scan_login",
        "faq",
        "扫码登录",
        "{user_name}，扫码登录请用绑定的手机打开微信扫一扫，扫码后在手机上点“确认登录”；"
        "二维码有效期约 2 分钟，过期了告诉我们重新发～",
        ["扫码", "二维码", "登录不上", "登不上"],
    ),
    _t(
        "faq_real_name",
        "faq",
        "实名认证",
        "{user_name}，实名认证需要号主本人身份证和本人刷脸，按页面提示完成即可；卡住了截图发群里，{staff_name}会协助您。",
        ["实名", "认证", "刷脸", "身份证"],
    ),
    _t(
        "faq_bind_phone",
        "faq",
        "绑定手机",
        "{user_name}，绑定手机请在“设置-账号与安全-手机号”里操作，收到验证码后发给{staff_name}即可～",
        ["绑定手机", "换绑", "手机号", "验证码"],
    ),
    _t(
        "faq_settlement",
        "faq",
        "收益结算",
        "{user_name}，收益按月结算，每月 10 日前到账；具体金额{staff_name}会在群里统一通知～",
        ["结算", "收益", "到账", "工资", "打款"],
    ),
    _t(
        "faq_publish",
        "faq",
        "发布作品",
        "{user_name}，作品由我们统一安排发布，请不要自己删改或发布作品哦，有需要先在群里说一声～",
        ["发作品", "发布", "删作品", "上传"],
    ),
    _t("inquiry_ack", "inquiry_ack", "收到问题", "收到{user_name}的问题啦，正在为您确认，请稍等片刻 🙏"),
    _t("inquiry_ack_2", "inquiry_ack", "收到问题 2", "{user_name}稍等哈，马上帮您看一下～"),
    _t(
        "after_sales_ack",
        "after_sales_ack",
        "售后受理",
        "收到～{user_name}的{task_type}问题已通知售后人员，马上来协助您处理 👍",
    ),
    _t(
        "complaint_sorry",
        "complaint",
        "投诉致歉",
        "{user_name}，非常抱歉给您带来不好的体验，您的问题我们已经记录，工作人员马上联系您处理 🙏",
    ),
    _t(
        "complaint_sorry_2",
        "complaint",
        "投诉致歉 2",
        "理解{user_name}的心情，给您添麻烦了，这边已经加急安排人员处理，请再给我们一点时间～",
    ),
    _t("comfort_staff_online", "comfort", "售后在线", "好的，请稍等，售后人员马上就来处理 👍"),
    _t("comfort_staff_busy", "comfort", "售后忙碌", "好的，请稍等，售后人员正在处理其他任务，马上就来 ⏳"),
    _t("comfort_staff_offline", "comfort", "售后离线", "好的，请稍等，已通知售后人员，马上会来处理 🔔"),
    _t(
        "conciliation",
        "conciliation",
        "冲突调和",
        "我们马上配合他，去帮助他完成实名或者扫码登录等相关工作",
    ),
    _t(
        "private_operation",
        "private_operation",
        "私自操作提醒",
        "{user_name}，作品和商品由我们统一安排，请先不要自己添加或删除哦，{staff_name}马上来和您确认～",
    ),
    _t(
        "operator_assist",
        "operator_assist",
        "协助运营",
        "收到老师的安排～大家有不清楚的地方随时在群里问，我们会协助每位号主完成 💪",
    ),
    _t(
        "night_ack",
        "night",
        "夜间应答",
        "{user_name}您好，现在是夜间，您的消息已记录，工作人员上班后会第一时间处理 🌙",
    ),
]

DEFAULTS_BY_KEY: dict[str, dict[str, Any]] = {t["key"]: t for t in DEFAULT_TEMPLATES}
