"""The demo world: robots, groups, people and realistic group-chat lines (plain data).

Used by the demo seeder (robots, groups, people registry) and by the traffic simulator
(`app.demo.simulator`). Message lines are keyed by the message-type codes of PRODUCT.md §3.2;
lines addressed to a user contain the placeholder `{user}` (see `fill_user`). A scripted line
that starts with `AT_ROBOT` @-mentions the group's current reply robot.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, TypedDict


class RobotSpec(TypedDict):
    robot_id: str
    name: str  # WeCom display name of the robot account
    role: str  # monitor | notify | day_reply | night_reply


class PersonSpec(TypedDict):
    display_name: str
    aliases: list[str]
    role: str  # operator | assistant | after_sales | user
    group: str | None  # group name, or None for staff serving every group
    skills: list[str]  # after-sales task types the person handles


class GroupSpec(TypedDict):
    name: str
    remark: str
    robot_ids: list[str]  # robots sitting in the group
    users: list[str]  # 号主 display names (not in the registry: unknown senders are users)


@dataclass(frozen=True, slots=True)
class ScriptedConversation:
    """A short exchange that plays out in order in one group."""

    name: str
    group: str
    lines: tuple[tuple[str, str], ...]  # (sender display name, text)


ROBOT_ROLES: Final = ("monitor", "notify", "day_reply", "night_reply")
PERSON_ROLES: Final = ("operator", "assistant", "after_sales", "user")
STAFF_ROLES: Final = ("assistant", "after_sales")
TASK_SKILLS: Final = ("扫码登录", "实名认证", "视频号认证", "绑定手机", "发作品", "自拍视频")

USER_PLACEHOLDER: Final = "{user}"
AT_ROBOT: Final = "@{robot} "

# ── robots ────────────────────────────────────────────────────────────────────

ROBOTS: Final[list[RobotSpec]] = [
    {"robot_id": "demo-monitor", "name": "监控机器人小安", "role": "monitor"},
    {"robot_id": "demo-notify", "name": "通知机器人小通", "role": "notify"},
    {"robot_id": "demo-day", "name": "白班助手小晴", "role": "day_reply"},
    {"robot_id": "demo-night", "name": "晚班助手小夜", "role": "night_reply"},
]
ALL_ROBOT_IDS: Final = [robot["robot_id"] for robot in ROBOTS]

# ── groups ────────────────────────────────────────────────────────────────────

GROUP_1: Final = "抖音号主服务1群"
GROUP_2: Final = "抖音号主服务2群"
GROUP_3: Final = "视频号号主VIP群"

GROUPS: Final[list[GroupSpec]] = [
    {
        "name": GROUP_1,
        "remark": "抖音1群｜华东号主",
        "robot_ids": list(ALL_ROBOT_IDS),
        "users": [
            "阿杰🏀",
            "🌸花开富贵",
            "李姐（宝妈）",
            "晴天☀️",
            "老张-建材",
            "Lily王",
            "小胖爱吃鱼",
            "一路向北",
        ],
    },
    {
        "name": GROUP_2,
        "remark": "抖音2群｜华南号主",
        "robot_ids": list(ALL_ROBOT_IDS),
        "users": [
            "静待花开🌷",
            "开心果😄",
            "刘大哥",
            "Mr.何",
            "秋天的风🍂",
            "旺仔",
            "芳芳-微商",
            "追风少年",
            "暖暖",
        ],
    },
    {
        "name": GROUP_3,
        "remark": "视频号VIP｜重点客户",
        "robot_ids": list(ALL_ROBOT_IDS),
        "users": ["A.陈小鱼", "山水有相逢", "宝妈小丽💕", "老周", "Grace", "向日葵🌻", "阿强-装修"],
    },
]

# ── people registry (operators and staff; users are listed per group above) ───


def _person(name: str, aliases: list[str], role: str, group: str | None, skills: list[str]) -> PersonSpec:
    return {"display_name": name, "aliases": aliases, "role": role, "group": group, "skills": skills}


PEOPLE: Final[list[PersonSpec]] = [
    _person("财神爷-王总", ["王总", "王老板"], "operator", GROUP_1, []),
    _person("群助理-小美", ["小美"], "assistant", GROUP_1, ["发作品", "自拍视频"]),
    _person("售后-小雨", ["小雨"], "after_sales", GROUP_1, ["扫码登录", "实名认证", "绑定手机"]),
    _person("运营-陈总", ["陈总"], "operator", GROUP_2, []),
    _person("财神爷-刘哥", ["刘哥", "刘总"], "operator", GROUP_2, []),
    _person("群助理-阿琳", ["阿琳"], "assistant", GROUP_2, ["发作品", "自拍视频", "绑定手机"]),
    _person("售后-小杨", ["小杨"], "after_sales", GROUP_2, ["扫码登录", "视频号认证", "实名认证"]),
    _person("老板-赵姐", ["赵姐", "赵总"], "operator", GROUP_3, []),
    _person("群助理-甜甜", ["甜甜"], "assistant", GROUP_3, ["自拍视频", "发作品"]),
    _person(
        "售后-大伟", ["大伟"], "after_sales", GROUP_3, ["视频号认证", "实名认证", "扫码登录", "绑定手机"]
    ),
    _person("售后主管-周姐", ["周姐"], "after_sales", None, list(TASK_SKILLS)),
]

# ── message library, keyed by PRODUCT.md §3.2 type codes ──────────────────────

USER_TYPES: Final = (
    "chat_daily",
    "chat_inquiry",
    "chat_after_sales",
    "chat_complaint",
    "chat_private_operation",
    "chat_cooperation",
    "chat_complain_discuss",
    "chat_other",
)
STAFF_TYPES: Final = ("staff_reply_user", "staff_at_user", "staff_ask_user", "staff_other")
OPERATOR_TYPES: Final = ("operator_assign_user", "operator_tone_hard", "operator_other")
MESSAGE_TYPES: Final = USER_TYPES + STAFF_TYPES + OPERATOR_TYPES

_USER_LINES: dict[str, tuple[str, ...]] = {
    "chat_daily": (
        "大家早上好呀☀️",
        "早～",
        "今天好热啊，出门差点晒化了😂",
        "哈哈哈哈 笑死我了",
        "晚安各位🌙",
        "周末愉快～",
        "吃饭了没 哈哈",
        "下雨了，大家出门记得带伞☔",
        "新人报到，请多关照🙏",
        "666",
        "刚下班，累瘫了。。。",
        "中秋快乐🥮",
        "今天心情不错😄",
        "群里好热闹啊",
        "哈哈 同感",
        "早上好，新的一天加油💪",
        "谢谢大家的祝福🌹",
    ),
    "chat_inquiry": (
        "请问收益一般什么时候结算？",
        "想问下这个月的数据在哪里看",
        "我的号现在是谁在管呀？",
        "请问视频号认证需要准备什么资料",
        "怎么查看作品的播放量？",
        "有没有人知道佣金怎么提现",
        "新号多久能开始接单啊",
        "请问合同到期了怎么续？",
        "直播需要我本人出镜吗？",
        "换手机了会影响账号吗",
        "请问粉丝多少才能开橱窗",
        "这个月为啥数据下降了？能帮看看吗",
        "问一下，号可以同时在两个手机登录吗",
        "客服在吗，有个问题想咨询下",
        "作品被限流了怎么办呀",
        "结算单在哪里下载",
        "请问我需要每天发作品吗",
    ),
    "chat_after_sales": (
        "我的号掉线了，需要重新扫码登录吗",
        "二维码过期了，麻烦再发一个",
        "实名认证一直提示失败，怎么弄啊",
        "手机号换了，要重新绑定手机",
        "登录要验证码，我现在可以接",
        "视频号认证卡在人脸识别这一步了",
        "扫码后显示异常，帮我看一下",
        "账号提示需要实名，找谁处理",
        "我这边要换绑手机号，怎么操作",
        "登不上去了，提示环境异常😭",
        "验证码发到我手机了，发给谁？",
        "刚扫完码了，显示登录成功没？",
        "人脸认证要本人吗 我现在方便",
        "抖音提示账号存在风险要验证",
        "麻烦售后帮我重新登录下号",
        "视频号的实名认证通过了没有",
    ),
    "chat_complaint": (
        "你们到底靠不靠谱啊？？一个月了收益一分没见到",
        "说好的三天处理，现在一个星期了还没人管😡",
        "我要投诉！客服一直不回消息",
        "这不就是骗人的吗。。。",
        "再这样我就退出了，浪费时间",
        "问了三遍了没人理，什么服务态度",
        "你们是不是把我号搞坏了？粉丝掉了一大半",
        "钱什么时候退？不给说法我就去12315",
        "当初说得天花乱坠，结果啥也没有",
        "每次都说马上马上，马上到底是多久？",
        "我的号被封了，你们得负责",
        "太失望了，完全不是当初承诺的那样",
        "售后找不到人，电话也不接，啥意思？",
        "感觉被坑了，大家小心点😤",
        "数据造假吧？后台根本对不上",
        "再不处理我就找平台举报了",
    ),
    "chat_private_operation": (
        "我自己在橱窗加了几个商品，应该没事吧",
        "昨天那几个作品我觉得不好看，删掉了",
        "我自己发了个视频，播放还挺高哈哈",
        "我把头像和昵称改了一下",
        "之前的作品我都隐藏了",
        "我自己开了个直播试试",
        "我把商品链接换成我朋友店里的了",
        "那个账号我自己注销重新注册了",
        "我自己在小黄车挂了个链接",
        "我私信回复了几个粉丝，让他们加我微信",
        "我把简介改成我自己的店铺了",
        "我把你们那边登录的设备踢下线了",
        "作品太少了，我自己拍了几条发上去",
        "我自己买了点dou+投了一下",
        "我把视频号绑定到我自己的公众号了",
        "昨天晚上我自己把评论都删了",
    ),
    "chat_cooperation": (
        "自拍视频要拍多长啊",
        "今天的作品我晚上发可以吗",
        "拍视频要露脸吗？",
        "视频拍好了，发给谁审核？",
        "文案发我一下，我照着拍",
        "这周要发几条作品呀",
        "我背景有点乱，这样拍可以吗",
        "今天要拍的自拍视频脚本在哪",
        "我明天再拍可以吗，今天不在家",
        "拍了三条，看看哪条能用",
        "要穿正装拍吗",
        "作品发出去了，帮忙看看",
        "要配音乐吗，用哪首",
        "横屏还是竖屏拍？",
        "拍摄时间有要求吗",
        "发作品的时候要加什么话题？",
    ),
    "chat_complain_discuss": (
        "你们的收益到了吗？我的还没动静",
        "感觉最近数据都不太行啊",
        "有没有人跟我一样，一直没人联系",
        "哎，做了两个月，也就那样吧",
        "我也是，感觉被晾着了",
        "听说隔壁群的都结算了，我们怎么还没",
        "你们觉得这个靠谱吗？我有点怀疑",
        "唉 又要拍视频，烦死了",
        "最近老让扫码，有点担心安全",
        "同感，每次都拖",
        "我朋友也做这个，他那边钱多点",
        "别急吧，估计月底才结",
        "谁知道这个月规则是不是又改了",
        "哈哈 咱们就是打工人，忍忍吧",
        "真不知道坚持下去有没有意义。。。",
        "我也没到账，一起等吧🤷",
    ),
    "chat_other": (
        "【限时福利】加V领取免费会员 vx: abc8888",
        "帮忙砍一刀，谢谢🙏",
        "出闲置iPhone13，有需要的私聊",
        "转发到3个群领红包🧧",
        "？",
        "[表情]",
        "测试",
        "打错了，不好意思",
        "不好意思发错群了",
        "投票帮我家孩子投一票吧，3号，谢谢",
        "兼职刷单日结，私聊",
        "哦",
        "嗯嗯",
        "。。。",
        "谁的快递放门口了",
        "招代理，零投资，详情私我",
    ),
}

_STAFF_LINES: dict[str, tuple[str, ...]] = {
    "staff_reply_user": (
        "收益一般每月15号统一结算哈，请耐心等待～",
        "数据在后台「数据中心」里可以看到哦",
        "换手机不影响的，登录的时候跟售后说一声就行",
        "视频号认证需要身份证和本人人脸识别，准备好跟我说👌",
        "直播不强制本人出镜哈，看您方便",
        "提现在「我的-钱包」里操作，1-3个工作日到账",
        "作品限流一般是内容重复，我们这边帮您调整一下",
        "@{user} 您的问题已经反馈了，今天之内给您答复",
        "@{user} 合同续约找我就行，我私信您",
        "数据下降是平台最近调整算法，大家都有波动，不用担心哈",
        "@{user} 不用每天发，一周3条就可以啦",
        "粉丝满1000就可以开橱窗了，加油💪",
        "@{user} 结算单我私发给您了，注意查收",
        "您好，这个问题查过了，是系统延迟，已经恢复了",
        "不用担心，账号安全我们都有专人负责🙏",
        "@{user} 已经帮您处理好了，刷新一下看看",
    ),
    "staff_at_user": (
        "@{user} 您好，您的号需要扫码登录一下，方便的时候回复我一下哈",
        "@{user} 麻烦做一下实名认证，我私信发您链接",
        "@{user} 视频号认证需要您本人刷个脸，现在方便吗？",
        "@{user} 您的手机号需要重新绑定一下，收到验证码发我",
        "@{user} 提醒一下，今天的作品还没发哦📢",
        "@{user} 自拍视频今天记得拍一下哈，脚本不懂的问我",
        "@{user} 号掉线了，需要您扫码重新登录下🙏",
        "@{user} 登录需要验证码，请留意短信",
        "@{user} 在吗？需要您配合扫个码",
        "@{user} 实名认证还差最后一步，麻烦抽空弄下",
        "@{user} 提醒：明天截止，请尽快完成视频号认证",
        "@{user} 二维码私信发您了，5分钟内有效，请尽快扫",
        "@{user} 麻烦把作品发一下，就差您了",
        "@{user} 绑定手机这一步需要您操作下，很快的",
        "@{user} 您好，人脸识别失败了，需要重新认证一次",
        "@{user} 看到请回复一下，需要您扫码登录",
    ),
    "staff_ask_user": (
        "@{user} 您现在方便吗？",
        "@{user} 最近账号使用有没有遇到问题？",
        "@{user} 请问之前的问题解决了吗",
        "@{user} 您那边登录还正常吗",
        "@{user} 收益到账了吗？有问题随时说",
        "@{user} 视频拍得怎么样了？需要帮忙吗",
        "大家最近有没有收到异常登录提醒？",
        "@{user} 您是换手机了吗？",
        "@{user} 请问您几点有空，我们约个时间处理",
        "@{user} 最近是不是比较忙呀",
        "@{user} 作品发了吗？发了截个图哈",
        "@{user} 您这边实名认证做了吗",
        "请问还有哪位号主没有完成本周作品的？",
        "@{user} 对我们的服务还满意吗？有建议可以提",
        "@{user} 刚才说的问题具体是什么情况呢？",
        "@{user} 您的账号最近是不是在别的手机登录过？",
    ),
    "staff_other": (
        "本群服务时间：9:00-21:00，晚上有问题留言即可",
        "大家好，我是新来的群助理，有问题随时找我😊",
        "【通知】本月结算已开始，请大家留意到账",
        "收到",
        "好的",
        "群公告已更新，大家看一下哈",
        "今天系统维护，下午3点后恢复",
        "大家周末愉快～",
        "请大家不要在群里发广告哦",
        "感谢大家的支持和配合🌹",
        "下周一开始新的活动，详情看群公告",
        "大家早上好☀️",
        "今天售后值班的是小雨，有问题找她",
        "今天的任务已经全部统计完了",
        "请新进群的号主改一下群昵称：姓名+手机后四位",
        "节假日正常服务，不打烊",
    ),
}

_OPERATOR_LINES: dict[str, tuple[str, ...]] = {
    "operator_assign_user": (
        "@{user} 今天晚上8点前把自拍视频发一下",
        "@{user} 明天开始每天发两条作品",
        "@{user} 配合一下售后，把实名认证做了",
        "所有号主这周内完成视频号认证，群助理统计一下",
        "@{user} 这周把三条作品补上",
        "@{user} 下午有空把码扫一下",
        "安排一下：今天所有号主都拍一条自拍视频",
        "@{user} 直播时间定在周五晚上8点，提前准备",
        "@{user} 你的号这周重点做，发作品前先给群助理看",
        "@{user} 手机号绑定今天搞定",
        "本周任务：每人至少发3条作品，周日晚统计",
        "@{user} 明天上午配合拍摄，时间群助理跟你约",
        "@{user} 新脚本发群里了，按这个拍",
        "今天没发作品的号主抓紧，晚上10点前发完",
        "@{user} 你那个号先停更两天，等通知",
        "@{user} 配合下后台，登录一下",
    ),
    "operator_tone_hard": (
        "@{user} 说了多少遍了还不弄？？",
        "不想做的直接退群，别浪费大家时间",
        "@{user} 今天再不发作品就别干了",
        "一个扫码拖三天，你们到底想不想赚钱",
        "@{user} 回个消息有那么难吗",
        "都是成年人了，这点事情都做不好？",
        "别找借口，今天必须完成",
        "@{user} 再这样下去合同直接解除",
        "我最后说一遍，不配合的后果自负",
        "@{user} 你是不是不想干了？",
        "一天天的，一点执行力都没有",
        "谁再私自删作品，直接扣钱",
        "@{user} 别跟我讲条件，先把事情做了",
        "群里的消息都不看是吧？？",
        "我不管你们忙不忙，晚上之前给我弄完",
        "@{user} 自己的号自己都不上心，还指望别人？",
    ),
    "operator_other": (
        "大家辛苦了，这个月数据不错👍",
        "下个月有新活动，到时候群里通知",
        "我这两天出差，有事找群助理",
        "收到",
        "好的",
        "今天的数据我看了，整体还行",
        "感谢大家配合🙏",
        "周末我请大家喝奶茶🧋",
        "晚上开个小会，群助理通知一下",
        "大家有什么想法可以提出来",
        "新来的号主欢迎一下👏",
        "嗯，知道了",
        "月底给表现好的号主发奖励🧧",
        "这个事情我来跟进",
        "早上好各位",
        "大家注意休息",
    ),
}

MESSAGE_LIBRARY: Final[dict[str, tuple[str, ...]]] = {**_USER_LINES, **_STAFF_LINES, **_OPERATOR_LINES}

# User answers to an open after-sales task (PRODUCT.md §3.4).
USER_RESPONSES: Final[dict[str, tuple[str, ...]]] = {
    "response": (
        "在的",
        "在",
        "来了",
        "好的",
        "收到",
        "马上",
        "可以",
        "行",
        "是的",
        "在的在的",
        "好的👌",
        "收到收到",
        "马上来",
        "我在，现在扫吗",
        "可以的，发我吧",
        "好嘞",
        "OK 稍等一下",
    ),
    "refusal": (
        "不弄了",
        "没空",
        "别烦我",
        "算了不搞了",
        "没时间，改天吧",
        "不想弄了，太麻烦",
        "这几天都没空",
        "能不能别老找我",
        "不搞了，退了",
        "我不扫，不安全",
        "现在没空，别催",
        "烦死了，不弄",
        "我不做了",
        "不想配合了",
        "谁爱弄谁弄",
    ),
}

# ── scripted mini-conversations ───────────────────────────────────────────────

SCRIPTS: Final[tuple[ScriptedConversation, ...]] = (
    ScriptedConversation(
        "扫码登录",
        GROUP_1,
        (
            ("售后-小雨", "@阿杰🏀 您好，您的号掉线了，需要扫码登录一下，方便的时候回复我哈🙏"),
            ("阿杰🏀", "在的"),
            ("售后-小雨", "好的，二维码私信发您了，5分钟内有效哦"),
            ("阿杰🏀", "扫好了"),
            ("售后-小雨", "@阿杰🏀 收到，登录成功✅ 感谢配合～"),
        ),
    ),
    ScriptedConversation(
        "投诉与致歉",
        GROUP_2,
        (
            ("开心果😄", "你们到底靠不靠谱啊？？说好的上周结算，到现在一分钱都没看到😡"),
            ("刘大哥", "我的也没到。。。"),
            (
                "群助理-阿琳",
                "@开心果😄 非常抱歉给您带来不好的体验🙏 我马上跟财务核实，今天下班前一定给您答复",
            ),
            ("开心果😄", "行吧，尽快"),
            ("群助理-阿琳", "@开心果😄 查到了，是银行卡信息有误被退回了，麻烦私信我一下正确卡号"),
            ("开心果😄", "好的，谢谢"),
        ),
    ),
    ScriptedConversation(
        "运营安排",
        GROUP_3,
        (
            ("老板-赵姐", "@宝妈小丽💕 @老周 今天晚上8点前把自拍视频拍好发群助理，别拖哈"),
            ("宝妈小丽💕", "收到"),
            ("老周", "好的赵姐，我下班就拍"),
            ("群助理-甜甜", "脚本我私发两位了，拍好发我审核一下😊"),
        ),
    ),
    ScriptedConversation(
        "@机器人咨询",
        GROUP_1,
        (
            ("Lily王", AT_ROBOT + "请问收益一般什么时候结算？"),
            ("群助理-小美", "@Lily王 每月15号统一结算哈，到账会有短信提醒～"),
            ("Lily王", "好的 谢谢😊"),
        ),
    ),
    ScriptedConversation(
        "运营语气冲突",
        GROUP_2,
        (
            ("财神爷-刘哥", "@旺仔 实名认证说了多少遍了还不弄？？不想做就直接退群"),
            ("旺仔", "凶什么啊，我白天要上班，哪有空"),
            ("群助理-阿琳", "@旺仔 别着急哈，我们马上配合您完成实名认证，您晚上方便的时候说一声就行🙏"),
            ("旺仔", "那晚上9点吧"),
        ),
    ),
    ScriptedConversation(
        "拒绝配合",
        GROUP_3,
        (
            ("售后-大伟", "@阿强-装修 您好，视频号认证需要您本人刷个脸，现在方便吗？"),
            ("阿强-装修", "没空，不弄了"),
            ("群助理-甜甜", "@阿强-装修 理解您忙哈，认证只要2分钟，您定个时间我们配合您😊"),
        ),
    ),
)

# ── look-ups ──────────────────────────────────────────────────────────────────


def robot_by_role(role: str) -> RobotSpec:
    for robot in ROBOTS:
        if robot["role"] == role:
            return robot
    raise KeyError(role)


def group_by_name(name: str) -> GroupSpec:
    for group in GROUPS:
        if group["name"] == name:
            return group
    raise KeyError(name)


def people_in_group(group_name: str, role: str | None = None) -> list[PersonSpec]:
    """Registry people serving the group (its own plus global staff), optionally of one role."""
    return [
        person
        for person in PEOPLE
        if person["group"] in (group_name, None) and (role is None or person["role"] == role)
    ]


def group_members(group_name: str) -> list[PersonSpec]:
    """Everyone in the group: registry people plus its users as role `user`."""
    users = [_person(name, [], "user", group_name, []) for name in group_by_name(group_name)["users"]]
    return people_in_group(group_name) + users


def fill_user(line: str, user: str) -> str:
    """Put a user's display name into a library line's `{user}` placeholder."""
    return line.replace(USER_PLACEHOLDER, user)
