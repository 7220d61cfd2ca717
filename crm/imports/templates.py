"""The registry of the seven spreadsheet templates users keep (TEMPLATES.md).

A table of headers, aliases, kinds and required flags: recognition, cleaning, the blank
templates offered for download and their 填写说明 all read it, so a new alias is one line here.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

# Field kinds understood by crm.imports.cleaning.
TEXT, LONG_TEXT, DATE, AMOUNT, PHONE, EMAIL, CONTACT = "text", "long_text", "date", "amount", "phone", "email", "contact"
RATING, SCORE, ENUM, OPEN_ENUM, TAGS, CUSTOMER_ID, TEXT_OR_DATE = (
    "rating", "score", "enum", "open_enum", "tags", "customer_id", "text_or_date")
BOOL_ENUM, PLAN = "bool_enum", "plan"


@dataclass(frozen=True)
class Field:
    name: str
    header: str
    aliases: tuple[str, ...] = ()
    kind: str = TEXT
    required: bool = False
    enum: str | None = None  # key into ENUMS for enum / open_enum / bool_enum kinds
    hint: str = ""  # shown in the 填写说明 sheet of the blank template

    @property
    def all_headers(self) -> tuple[str, ...]:
        return (self.header, *self.aliases)


@dataclass(frozen=True)
class Template:
    code: str
    title: str
    fields: tuple[Field, ...]
    # Groups of which at least one field must be present: as a header for recognition, and
    # filled in for a row to be accepted ("phone or email").
    any_of: tuple[tuple[str, ...], ...] = ()
    # Headers that tell this template apart from its neighbours; recognition needs all of them.
    signature: tuple[str, ...] = ()
    description: str = ""
    sheet_hints: tuple[str, ...] = ()
    # Fields that say what a sheet is (交易类型: transactions): a sheet naming one of them but
    # missing a column this template needs is reported as this template, not read as another.
    decisive: tuple[str, ...] = ()
    field_by_name: dict[str, Field] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "field_by_name", {f.name: f for f in self.fields})

    @property
    def required(self) -> list[Field]:
        return [f for f in self.fields if f.required]


# Enumerations: canonical value -> variants users write. Matching is done on normalise_token().
ENUMS: dict[str, dict[str, tuple[str, ...]]] = {
    "gender": {"男": ("男性", "m", "male", "先生"), "女": ("女性", "f", "female", "女士"),
               "未知": ("不详", "保密", "unknown", "-")},
    "level": {"高": ("很高", "较高", "high", "h", "非常高"), "中": ("一般", "中等", "普通", "medium", "m", "适中"),
              "低": ("较低", "low", "l", "很低", "不敏感")},
    "credit_level": {"A": ("aaa", "aa", "优", "优秀"), "B": ("良", "良好"), "C": ("中等",), "D": ("差", "较差"),
                     "高": (), "中": (), "低": ()},
    # an order export's status → what the row is: 购买, 退货, or not a transaction at all (跳过)
    "order_status": {"购买": ("交易成功", "已完成", "完成", "成功", "已付款", "已支付", "付款成功", "已发货", "已签收",
                              "待发货", "待收货", "已收货", "确认收货", "买家已付款", "卖家已发货"),
                     "退货": ("退款成功", "已退款", "退款", "退货", "已退货", "退货退款", "售后完成"),
                     "跳过": ("已关闭", "关闭", "交易关闭", "已取消", "取消", "未付款", "待付款", "等待买家付款", "作废",
                              "已作废")},
    "transaction_kind": {"购买": ("采购", "下单", "订购", "购买产品", "成交", "购货", "购置", "订单"),
                         "咨询": ("询价", "咨询产品", "问询"), "投诉": ("客诉",),
                         "退货": ("退款", "退货退款", "退换货"), "续约": ("续费", "续签", "续订", "续约合同")},
    "channel": {"电话": ("电话沟通", "打电话", "来电", "致电", "电话回访", "tel", "phone"),
                "邮件": ("电子邮件", "email", "e-mail", "邮箱"), "会议": ("开会", "线下会议"),
                "面谈": ("当面", "面对面", "当面沟通", "面谈沟通"),
                "线上会议": ("视频会议", "腾讯会议", "钉钉会议", "网络会议", "线上"),
                "微信": ("企业微信", "wechat", "微信沟通"), "拜访": ("上门拜访", "实地拜访", "上门", "走访"),
                "短信": ("sms",)},
    "company_size": {"20人以下": ("20人以内", "小于20人", "1-19人"), "20-99人": ("20~99人", "20至99人"),
                     "100-499人": ("100~499人",), "500-999人": ("500~999人",), "1000人以上": ("1000人及以上", "千人以上")},
    "source": {"官网": ("网站", "官方网站"), "公众号": ("微信公众号",), "小程序": ("微信小程序",),
               "电话": ("电话营销", "来电"), "展会": ("展览会", "会展"), "转介绍": ("老客户介绍", "推荐", "介绍", "客户推荐")},
    "follow_up_status": {"待跟进": ("未跟进", "进行中", "跟进中", "计划", "未完成", "待办", "open"),
                         "已完成": ("完成", "已跟进", "done", "已结束"), "已取消": ("取消", "作废", "cancelled")},
    "goal": {"达成合作": ("签约", "合作"), "增加订单": ("追加订单", "复购"), "解决问题": ("处理问题",)},
    "complaint_kind": {"商品": ("产品", "质量", "产品质量", "商品质量"), "服务": ("服务态度", "售后", "售后服务"),
                       "其他": ("其它",)},
    "complaint_via": {"信件": ("来信", "书信"), "传真": (), "电话": ("来电", "热线"), "其他": ("其它",)},
    "accepted": {"受理": ("是", "已受理", "y", "yes", "接受"), "不予受理": ("否", "不受理", "拒绝", "n", "no", "驳回")},
    "urgency": {"特急": ("非常紧急", "加急", "特别紧急"), "急": ("紧急", "较急"), "一般": ("普通", "不急", "正常")},
    "resolution": {"退货": ("退款",), "换货": ("更换",), "折扣": ("打折", "补偿", "优惠"), "维修": ("返修", "修理"),
                   "道歉": ("赔礼道歉", "致歉"), "其他": ("其它",)},
    "survey_via": {"问卷": ("调查问卷", "纸质问卷"), "电话访谈": ("电话", "电话回访"), "在线评价": ("线上", "网上评价", "在线")},
}

# Which enums are open lists ("电话/邮件/…"): an unknown value is kept as written, with no problem.
OPEN_ENUMS = {"channel", "source", "goal", "survey_via", "complaint_via", "company_size"}

SATISFACTION_WORDS: dict[str, int] = {
    "非常满意": 5, "很满意": 5, "十分满意": 5, "满意": 4, "比较满意": 4, "较满意": 4, "基本满意": 3,
    "一般": 3, "还行": 3, "不满意": 2, "较不满意": 2, "不太满意": 2, "非常不满意": 1, "很不满意": 1, "极不满意": 1,
}

_C = "客户编号"
T1 = Template(
    "T1", "客户档案",
    (
        Field("customer_id", _C, ("客户ID", "编号", "档案编号", "客户代码", "客户编码", "会员编号", "会员卡号", "会员ID",
                                  "账户ID"), CUSTOMER_ID,
              hint="留空则自动生成，如 C20240501001"),
        Field("name", "客户姓名", ("客户名称", "姓名", "名称", "公司名称", "客户", "客户名", "店名", "店铺名称", "门店名称",
                                   "账户名称", "会员姓名", "会员名称", "买家昵称", "单位名称", "企业名称", "客户全称"), TEXT, True),
        Field("gender", "性别", (), ENUM, enum="gender"),
        Field("birth_date", "出生日期", ("生日",), DATE),
        Field("phone", "联系电话", ("联系方式", "手机", "电话", "手机号", "手机号码", "电话号码", "客户手机号", "客户电话",
                                    "联系手机", "移动电话", "联系人电话", "联系人手机"), PHONE,
              hint="手机 11 位或带区号的座机；没有联系方式也可建档（标记为待跟进）"),
        Field("email", "电子邮箱", ("邮箱", "email", "e-mail", "电子邮件"), EMAIL),
        Field("company", "公司", ("单位", "所在公司", "工作单位")),
        Field("title", "职位", ("职务", "岗位", "联系人职位", "联系人职务")),
        Field("industry", "行业", ("所属行业", "行业背景")),
        Field("company_size", "公司规模", ("企业规模", "人员规模"), OPEN_ENUM, enum="company_size"),
        Field("region", "地区", ("区域", "省份", "所在地区", "省")),
        Field("city", "城市", ("所在城市", "市")),
        Field("address", "地址", ("客户地址", "联系地址", "详细地址", "公司地址", "收货地址", "所在地址")),
        Field("source", "客户来源", ("来源渠道", "渠道", "来源"), OPEN_ENUM, enum="source"),
        Field("owner", "负责人", ("客户经理", "销售负责人", "销售")),
        Field("decision_maker", "决策层", ("决策人", "决策角色")),
        Field("product_need", "产品需求", ("核心需求", "需求描述")),
        Field("service_need", "服务需求"),
        Field("price_sensitivity", "价格敏感度", ("价格需求",), ENUM, enum="level"),
        Field("due_expectation", "交货期需求", ("期望解决时间",), TEXT_OR_DATE),
        Field("priority", "优先级", (), ENUM, enum="level"),
        Field("credit_level", "信用等级", (), ENUM, enum="credit_level"),
        Field("credit_limit", "信用额度", (), AMOUNT),
        Field("tags", "标签", ("分类标签", "客户标签"), TAGS, hint="多个标签用 、，; 或 - 分隔，如 制造业-高价值-紧急需求"),
        Field("first_contact", "首次接触日期", ("建档日期", "注册日期", "注册时间", "入会日期", "开户日期"), DATE),
        Field("contact_person", "联系人", ("联系人姓名", "对接人"), TEXT),
        Field("wechat", "微信", ("微信号", "微信ID", "wechat"), TEXT),
        Field("qq", "QQ", ("QQ号", "QQ号码"), TEXT),
        Field("other_contacts", "其他联系方式", ("备用电话", "其他电话", "座机", "固定电话"), TEXT),
        Field("note", "备注", ("备注信息",), LONG_TEXT),
    ),
    signature=("name",),
    description="客户基本信息，每行一位客户",
    sheet_hints=("客户档案", "客户信息", "客户资料", "档案"),
)

_REF = (
    Field("customer_id", _C, ("客户ID", "客户代码", "客户编码", "会员编号", "会员卡号", "会员ID", "买家ID"), CUSTOMER_ID,
          hint="填写客户编号，或填写客户名称加联系方式"),
    Field("name", "客户名称", ("客户姓名", "客户", "客户名", "买家昵称", "买家会员名", "会员姓名", "会员名称", "店名", "账户名称",
                               "单位名称", "客户全称", "公司名称", "收货人"), TEXT, True),
    Field("contact", "联系方式", ("联系信息", "联系电话", "电话", "手机", "手机号", "手机号码", "客户手机号", "客户电话",
                                  "联系手机", "收货人手机", "买家手机", "联系人电话"), CONTACT, hint="电话和/或邮箱"),
)

T2 = Template(
    "T2", "客户关系管理记录表",
    (
        *_REF,
        Field("kind", "交易类型", (), ENUM, False, "transaction_kind", hint="留空为 购买（订单导出表可不含此列）"),
        Field("status", "订单状态", ("交易状态", "状态", "付款状态"), ENUM, enum="order_status",
              hint="订单导出表：交易成功/已完成 等为购买，退款成功 等为退货，已关闭/已取消/未付款 的行不导入"),
        Field("order_ref", "订单编号", ("订单号", "交易编号", "单号", "订单ID"), TEXT),
        Field("date", "购买时间", ("交易日期", "日期", "交易时间", "购买日期", "下单日期", "下单时间", "付款日期", "付款时间",
                                  "消费时间", "消费日期", "提单时间", "成交日期", "成交时间"), DATE, True),
        Field("amount", "金额(元)", ("金额", "交易金额", "订单金额", "实付金额", "消费金额", "签单金额", "成交金额",
                                    "实收金额", "支付金额", "付款金额"), AMOUNT, hint="购买必填；退货可为负数"),
        Field("rating", "评价等级", ("满意度", "评分", "评价"), RATING, hint="1–5，或 五星 / ★★★"),
        Field("next_follow_up", "下次跟进日期", ("下次跟进时间",), DATE),
        Field("note", "备注", (), LONG_TEXT),
    ),
    signature=("date",),
    any_of=(("kind", "amount", "status"),),
    decisive=("kind", "status"),
    description="交易记录，每行一笔交易",
    sheet_hints=("交易", "客户关系管理", "销售记录"),
)

T3 = Template(
    "T3", "客户互动记录表",
    (
        Field("customer_id", "客户ID", (_C, "客户代码"), CUSTOMER_ID, hint="填写客户编号，或填写客户名称加联系方式"),
        Field("name", "客户名称", ("客户姓名",), TEXT, True),
        Field("contact", "联系信息", ("联系方式", "联系电话"), CONTACT),
        Field("content", "最近互动", ("互动内容", "沟通内容"), LONG_TEXT),
        Field("channel", "互动类型", ("沟通方式", "互动方式"), OPEN_ENUM, True, "channel"),
        Field("date", "互动日期", ("沟通时间", "互动时间", "沟通日期"), DATE, True),
        Field("product", "关联产品/服务", ("关联产品", "关联服务")),
        Field("potential_value", "潜在价值"),
        Field("next_plan", "下次联系计划", ("下次跟进计划",), PLAN, hint="可含日期，如 2024-05-20 电话回访，将生成跟进任务"),
        Field("result", "结果", ("沟通结果", "互动结果")),
        Field("note", "备注", (), LONG_TEXT),
    ),
    signature=("channel", "date"),
    decisive=("channel",),
    description="与客户的每一次联系",
    sheet_hints=("互动", "沟通记录", "联系记录"),
)

T4 = Template(
    "T4", "客户跟踪表",
    (
        Field("customer_id", _C, ("客户ID",), CUSTOMER_ID),
        Field("name", "客户姓名", ("客户名称",), TEXT, True),
        Field("contact", "联系方式", ("联系电话", "联系信息"), CONTACT, hint="客户编号已在档案中时可不填"),
        Field("first_contact", "首次接触日期", (), DATE, True),
        Field("last_interaction", "最后一次互动", ("最后互动日期", "最近互动日期"), DATE, True),
        Field("contact_frequency", "互动频率", ("联系频率",)),
        Field("tracked_product", "产品/服务", ("产品", "服务"), TEXT, True),
        Field("satisfaction", "客户满意度", ("满意度",), SCORE),
        Field("key_issue", "关键问题"),
        Field("next_follow_up", "下次跟进日期", (), DATE, True),
        Field("note", "备注", (), LONG_TEXT),
    ),
    signature=("last_interaction", "next_follow_up"),
    description="每位客户一行的跟踪汇总",
    sheet_hints=("跟踪",),
)

T5 = Template(
    "T5", "跟进计划",
    (
        Field("customer_id", _C, ("客户ID",), CUSTOMER_ID),
        Field("name", "客户名称", ("客户姓名",), TEXT),
        Field("customer_ref", "客户", ("客户编号/客户名称", "客户编号或名称", "跟进客户"), TEXT),
        Field("contact", "联系方式", ("联系电话",), CONTACT),
        Field("due", "跟进时间", ("下次跟进日期", "计划日期", "跟进日期", "计划跟进时间"), DATE, True),
        Field("channel", "跟进方式", (), OPEN_ENUM, enum="channel"),
        Field("content", "跟进内容", (), LONG_TEXT),
        Field("goal", "跟进目标", (), OPEN_ENUM, enum="goal"),
        Field("owner", "负责人", ("跟进人",)),
        Field("status", "状态", ("跟进状态", "阶段"), ENUM, enum="follow_up_status", hint="待跟进/已完成/已取消，默认 待跟进"),
    ),
    any_of=(("customer_id", "name", "customer_ref"),),
    signature=("due",),
    description="计划中的跟进，每行一项",
    sheet_hints=("跟进计划", "跟进"),
)

T6 = Template(
    "T6", "客户投诉登记表",
    (
        Field("complaint_id", "受理编号", ("投诉编号",), TEXT, hint="留空则自动生成"),
        Field("date", "受理日期", ("投诉日期", "投诉时间"), DATE, True),
        Field("name", "客户姓名", ("投诉客户", "客户名称"), TEXT, True),
        Field("contact", "联系方式", ("联系电话",), CONTACT),
        Field("address", "客户地址", ("地址",)),
        Field("kind", "投诉类型", (), ENUM, True, "complaint_kind"),
        Field("via", "投诉方式", (), OPEN_ENUM, enum="complaint_via"),
        Field("reason", "投诉事由", ("投诉内容", "投诉问题描述"), LONG_TEXT, True),
        Field("request", "客户要求", (), LONG_TEXT),
        Field("accepted", "投诉受理", ("是否受理",), BOOL_ENUM, enum="accepted", hint="受理/不予受理，默认 受理"),
        Field("reject_reason", "不予受理原因"),
        Field("urgency", "紧急程度", (), ENUM, enum="urgency", hint="特急/急/一般，默认 一般"),
        Field("promised_by", "承诺办理期限", ("承诺处理期限",), DATE),
        Field("resolved_on", "实际处理期限", ("处理完成日期",), DATE),
        Field("department", "责任部门", ("问题发生部门",)),
        Field("resolution", "处理方式", (), ENUM, enum="resolution"),
        Field("loss", "损失金额", (), AMOUNT),
        Field("order_ref", "订单编号"),
        Field("product", "所购商品"),
        Field("outcome", "处理结果", ("处理经过",), LONG_TEXT),
        Field("satisfaction", "客户满意度评价", ("满意度评价",), SCORE),
        Field("handler", "承办人"),
    ),
    signature=("kind", "reason"),
    decisive=("reason",),
    description="投诉登记、处理记录与统计，每行一起投诉",
    sheet_hints=("投诉",),
)

SCORE_FIELDS = ("service_quality", "service_attitude", "efficiency", "professionalism", "product_quality", "packaging")
T7 = Template(
    "T7", "客户意见调查表",
    (
        Field("name", "客户名称", ("客户姓名",), TEXT, True),
        Field("contact", "联系方式", ("联系电话",), CONTACT),
        Field("date", "调查日期", ("填表日期",), DATE, True),
        Field("via", "调查方式", (), OPEN_ENUM, enum="survey_via"),
        Field("service_quality", "服务质量", (), SCORE, hint="非常满意/满意/一般/不满意/非常不满意，或 1–5"),
        Field("service_attitude", "服务态度", (), SCORE),
        Field("efficiency", "办事效率", (), SCORE),
        Field("professionalism", "服务人员的专业水平", ("专业水平",), SCORE),
        Field("product_quality", "产品质量", (), SCORE),
        Field("packaging", "包装设计", (), SCORE),
        Field("comment", "意见建议", ("备注",), LONG_TEXT),
    ),
    any_of=(SCORE_FIELDS,),
    signature=("date",),
    decisive=SCORE_FIELDS,
    description="满意度调查，每行一份回答",
    sheet_hints=("调查", "满意度"),
)

TEMPLATES: dict[str, Template] = {t.code: t for t in (T1, T2, T3, T4, T5, T6, T7)}


_PAREN_MARKS = re.compile(r"\((必填|选填|可选|必填项|非必填|可不填)\)")
_PARENS = re.compile(r"\([^)]*\)")
_SPACE = re.compile(r"\s+")


def normalise_token(value: object) -> str:
    """Full-width to half-width, no whitespace (incl. U+3000 and line breaks), lower case."""
    text = unicodedata.normalize("NFKC", str(value))
    return _SPACE.sub("", text).lower()


def normalise_header(value: object) -> str:
    """A header as written → the form aliases are compared in (`联系电话 *（必填）` → `联系电话`)."""
    text = normalise_token(value).replace("*", "").replace("★", "")
    text = _PAREN_MARKS.sub("", text)
    return text.replace("必填", "").strip(":：")


def header_variants(value: object) -> list[str]:
    """The normalised header, then the same without any parenthesised part (`金额(元)` → `金额`)."""
    base = normalise_header(value)
    out = [base] if base else []
    stripped = _PARENS.sub("", base)
    if stripped and stripped != base:
        out.append(stripped)
    return out


def _build_alias_index() -> dict[str, dict[str, str]]:
    index: dict[str, dict[str, str]] = {}
    for tpl in TEMPLATES.values():
        table: dict[str, str] = {}
        for f in tpl.fields:
            for h in f.all_headers:
                table.setdefault(normalise_header(h), f.name)
        index[tpl.code] = table
    return index


ALIAS_INDEX: dict[str, dict[str, str]] = _build_alias_index()


# What a header means when it is not one of the aliases: word parts, as real sheets word their
# columns (…手机… is a phone, 下单/付款/消费…日期 the transaction date, …金额 an amount, …昵称/店名 the
# customer). Each rule: the pattern, the fields it may name (the first the template has), and
# words that veto it (商品名称 is no customer). Tried in order, after the aliases.
WORD_RULES: tuple[tuple[re.Pattern[str], tuple[str, ...], re.Pattern[str] | None], ...] = tuple(
    (re.compile(p), fields, re.compile(veto) if veto else None) for p, fields, veto in (
        (r"(客户|会员|用户|买家|账户)(编号|id|代码|编码|号)$", ("customer_id",), None),
        (r"(订单|交易|单据)(编号|号|id)", ("order_ref",), None),
        (r"(手机|电话|联系方式|mobile|tel)", ("phone", "contact"), r"(回访|日期|时间|次数)"),
        (r"(邮箱|e-?mail|电子邮件)", ("email", "contact"), None),
        (r"微信", ("wechat",), r"(日期|时间|沟通)"),
        (r"^qq", ("qq",), None),
        (r"(下单|付款|支付|消费|交易|成交|提单|购买|签单|订单|创建)(日期|时间)", ("date",), None),
        (r"(金额|实付|实收|应付|消费额|付款额|成交额)", ("amount", "loss"), r"(优惠|折扣|运费|邮费)"),
        (r"状态$", ("status",), None),
        (r"联系人$", ("contact_person",), None),
        (r"(姓名|名称|昵称|店名|客户名|会员名|户名)$", ("name",),
         r"(商品|产品|货品|宝贝|物品|项目|服务|文件|行业|部门|品牌|规格|型号|门店类型|店铺类型)"),
        (r"地址", ("address",), r"(邮箱|ip|网址)"),
    ))


def match_header(template: Template, header: object) -> tuple[str, str] | None:
    """Which field of `template` a header names and why (shown in the preview), or None."""
    table = ALIAS_INDEX[template.code]
    variants = header_variants(header)
    for variant in variants:
        if variant in table:
            f = template.field_by_name[table[variant]]
            return f.name, ("模板列名" if variant == normalise_header(f.header) else f"「{f.header}」的常见写法")
    for variant in variants:
        for pattern, fields, veto in WORD_RULES:
            m = pattern.search(variant)
            if m and not (veto and veto.search(variant)):
                name = next((n for n in fields if n in template.field_by_name), None)
                if name:
                    return name, f"列名含「{m.group(0)}」"
    return None


def field_for_header(template: Template, header: object) -> str | None:
    """Which field of `template` a header names, or None."""
    found = match_header(template, header)
    return found[0] if found else None


def _build_enum_index() -> dict[str, dict[str, str]]:
    index: dict[str, dict[str, str]] = {}
    for key, values in ENUMS.items():
        table: dict[str, str] = {}
        for canonical, variants in values.items():
            table[normalise_token(canonical)] = canonical
            for v in variants:
                table.setdefault(normalise_token(v), canonical)
        index[key] = table
    return index


ENUM_INDEX: dict[str, dict[str, str]] = _build_enum_index()
