"""Realistic Chinese demo data for a fresh archive.

The dashboard starts on an empty DuckDB file and must show something worth exploring
(PRODUCT.md: "seeded with realistic demo data on first start"); the million-customer
performance goal also needs an archive of that size to measure against. So the data is
generated column-wise with numpy, handed to DuckDB as Arrow tables and appended with
`INSERT … SELECT` inside one transaction: a million customers take a few minutes, and a
failure part-way leaves the file exactly as it was.

The shapes are chosen so that, as of `today`, every segment of the classification rules is
populated with the default thresholds: prospects, new, old and lapsing customers; a long-
tailed revenue distribution with a few big accounts; customers whose spending is ramping
up; frequent talkers, sleepers and complainers. Nothing is uniform: surnames, regions,
industries and owners are skewed like real books of business, purchases follow the Chinese
trade calendar (busy Q4 and pre-Spring-Festival weeks, quiet holidays and weekends).
"""
from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from crm import clock
from crm.auth import audit
from crm.customers import activity
from crm.customers.search import refresh_search_text
from crm.customers.search_keys import name_initials, name_pinyin
from crm.db import scalar

if TYPE_CHECKING:
    import duckdb

    from crm.db import Archive

# Customers generated per round; bounds peak memory (≈2.5 M transaction rows per round).
CHUNK = 200_000
_EPOCH = _dt.date(1970, 1, 1)
# How far back the calendar reaches: first contacts go back three years, purchases two.
_HISTORY_DAYS = 1300

# --------------------------------------------------------------------------------------
# Vocabulary. Weights are relative; they need not sum to anything.
# --------------------------------------------------------------------------------------
_SURNAMES: list[tuple[str, float]] = [
    ("王", 7.1), ("李", 7.0), ("张", 6.7), ("刘", 5.4), ("陈", 4.6), ("杨", 3.1), ("黄", 2.2), ("赵", 2.0),
    ("吴", 1.9), ("周", 1.9), ("徐", 1.5), ("孙", 1.4), ("马", 1.3), ("朱", 1.3), ("胡", 1.2), ("郭", 1.2),
    ("何", 1.0), ("林", 1.0), ("高", 1.0), ("罗", 0.9), ("郑", 0.9), ("梁", 0.8), ("谢", 0.7), ("宋", 0.7),
    ("唐", 0.7), ("许", 0.6), ("韩", 0.6), ("邓", 0.6), ("冯", 0.6), ("曹", 0.6), ("彭", 0.5), ("曾", 0.5),
    ("肖", 0.5), ("田", 0.5), ("董", 0.5), ("潘", 0.4), ("袁", 0.4), ("蔡", 0.4), ("蒋", 0.4), ("余", 0.4),
    ("于", 0.4), ("杜", 0.4), ("叶", 0.4), ("程", 0.4), ("魏", 0.3), ("苏", 0.3), ("吕", 0.3), ("丁", 0.3),
    ("任", 0.3), ("卢", 0.3), ("姚", 0.3), ("沈", 0.3), ("钟", 0.3), ("姜", 0.3), ("崔", 0.3), ("谭", 0.3),
    ("陆", 0.3), ("范", 0.2), ("汪", 0.2), ("廖", 0.2), ("石", 0.2), ("金", 0.2), ("韦", 0.2), ("贾", 0.2),
    ("夏", 0.2), ("付", 0.2), ("方", 0.2), ("邹", 0.2), ("熊", 0.2), ("白", 0.2), ("孟", 0.2), ("秦", 0.2),
    ("邱", 0.2), ("侯", 0.2), ("江", 0.2), ("尹", 0.2), ("薛", 0.2), ("闫", 0.2), ("段", 0.2), ("雷", 0.2),
    ("龙", 0.15), ("黎", 0.15), ("史", 0.15), ("陶", 0.15), ("贺", 0.15), ("毛", 0.15), ("郝", 0.15),
    ("顾", 0.15), ("龚", 0.15), ("邵", 0.15), ("万", 0.12), ("覃", 0.12), ("武", 0.12), ("钱", 0.12),
    ("戴", 0.12), ("严", 0.12), ("莫", 0.1), ("孔", 0.1), ("向", 0.1), ("常", 0.1), ("欧阳", 0.03),
    ("司马", 0.01), ("诸葛", 0.01), ("上官", 0.01),
]
# Given names: frequent characters first (weights fall off with rank). Two-character names are
# pairs of a lead and a tail character, so the set of distinct names stays bounded, which keeps
# the pinyin computation cheap even for a million customers.
_MALE_SINGLE = "伟强磊军勇杰涛斌超明刚平辉鹏华飞鑫波宇浩凯健俊帆帅旭宁龙林阳建峰亮成东晨博洋"
_FEMALE_SINGLE = "芳娜敏静丽艳娟霞燕玲婷雪慧莹倩琳晶颖洁梅琴云兰红萍秀英佳欣怡悦雯璐丹蕾薇瑶"
_MALE_LEAD = "子浩宇俊文志建国家明永天一嘉晓立海振泽博"
_MALE_TAIL = "伟强磊军杰涛斌明辉鹏华飞宇轩然豪涵睿航哲"
_FEMALE_LEAD = "思雨欣梓佳晓雅诗美春丽秀海婉梦静子可紫若"
_FEMALE_TAIL = "涵琪怡萱婷雪颖妍琳洁娜敏丽芳燕霞慧悦彤然"

# Province short name (stored as region), prefix used in addresses, weight, cities → districts.
_REGIONS: list[tuple[str, str, float, list[tuple[str, list[str]]]]] = [
    ("广东", "广东省", 13.0, [("广州市", ["天河区", "越秀区", "番禺区", "白云区"]),
                            ("深圳市", ["南山区", "福田区", "宝安区", "龙岗区"]),
                            ("东莞市", ["南城街道", "长安镇", "松山湖"]), ("佛山市", ["顺德区", "南海区", "禅城区"])]),
    ("浙江", "浙江省", 10.0, [("杭州市", ["西湖区", "滨江区", "余杭区", "萧山区"]), ("宁波市", ["鄞州区", "海曙区", "北仑区"]),
                            ("温州市", ["鹿城区", "瓯海区"]), ("金华市", ["义乌市", "婺城区"])]),
    ("江苏", "江苏省", 10.0, [("苏州市", ["工业园区", "吴中区", "昆山市"]), ("南京市", ["鼓楼区", "江宁区", "建邺区"]),
                            ("无锡市", ["新吴区", "滨湖区"]), ("常州市", ["武进区", "新北区"])]),
    ("山东", "山东省", 7.0, [("济南市", ["历下区", "高新区"]), ("青岛市", ["市南区", "黄岛区", "崂山区"]),
                           ("烟台市", ["芝罘区", "莱山区"]), ("潍坊市", ["奎文区"])]),
    ("上海", "", 6.5, [("上海市", ["浦东新区", "徐汇区", "闵行区", "静安区", "嘉定区", "松江区"])]),
    ("北京", "", 6.0, [("北京市", ["朝阳区", "海淀区", "丰台区", "东城区", "西城区", "大兴区"])]),
    ("四川", "四川省", 5.0, [("成都市", ["武侯区", "锦江区", "高新区", "双流区"]), ("绵阳市", ["涪城区"])]),
    ("河南", "河南省", 4.5, [("郑州市", ["金水区", "二七区", "郑东新区"]), ("洛阳市", ["涧西区"])]),
    ("湖北", "湖北省", 4.5, [("武汉市", ["武昌区", "江汉区", "洪山区", "东湖高新区"]), ("宜昌市", ["西陵区"])]),
    ("福建", "福建省", 4.5, [("厦门市", ["思明区", "湖里区"]), ("福州市", ["鼓楼区", "仓山区"]), ("泉州市", ["晋江市", "丰泽区"])]),
    ("湖南", "湖南省", 3.5, [("长沙市", ["岳麓区", "芙蓉区", "雨花区"]), ("株洲市", ["天元区"])]),
    ("安徽", "安徽省", 3.5, [("合肥市", ["蜀山区", "包河区", "高新区"]), ("芜湖市", ["镜湖区"])]),
    ("河北", "河北省", 3.0, [("石家庄市", ["长安区", "裕华区"]), ("保定市", ["竞秀区"]), ("唐山市", ["路北区"])]),
    ("重庆", "", 2.5, [("重庆市", ["渝中区", "江北区", "渝北区", "九龙坡区"])]),
    ("陕西", "陕西省", 2.5, [("西安市", ["雁塔区", "碑林区", "未央区"])]),
    ("辽宁", "辽宁省", 2.5, [("沈阳市", ["和平区", "浑南区"]), ("大连市", ["中山区", "甘井子区"])]),
    ("天津", "", 2.0, [("天津市", ["和平区", "南开区", "滨海新区"])]),
    ("江西", "江西省", 2.0, [("南昌市", ["东湖区", "红谷滩区"])]),
    ("广西", "广西壮族自治区", 2.0, [("南宁市", ["青秀区", "西乡塘区"]), ("柳州市", ["城中区"])]),
    ("云南", "云南省", 1.5, [("昆明市", ["五华区", "盘龙区"])]),
    ("山西", "山西省", 1.2, [("太原市", ["小店区", "迎泽区"])]),
    ("黑龙江", "黑龙江省", 1.0, [("哈尔滨市", ["南岗区", "道里区"])]),
    ("吉林", "吉林省", 1.0, [("长春市", ["朝阳区", "南关区"])]),
    ("贵州", "贵州省", 1.0, [("贵阳市", ["观山湖区", "云岩区"])]),
    ("内蒙古", "内蒙古自治区", 0.8, [("呼和浩特市", ["新城区", "赛罕区"])]),
    ("新疆", "新疆维吾尔自治区", 0.6, [("乌鲁木齐市", ["天山区", "沙依巴克区"])]),
    ("甘肃", "甘肃省", 0.6, [("兰州市", ["城关区", "七里河区"])]),
    ("海南", "海南省", 0.5, [("海口市", ["龙华区", "美兰区"]), ("三亚市", ["吉阳区"])]),
    ("宁夏", "宁夏回族自治区", 0.2, [("银川市", ["兴庆区", "金凤区"])]),
    ("青海", "青海省", 0.2, [("西宁市", ["城西区"])]),
    ("西藏", "西藏自治区", 0.1, [("拉萨市", ["城关区"])]),
]
_ROADS = ("人民路", "解放路", "中山路", "建设路", "和平路", "长江路", "科技路", "工业大道", "新华路", "文化路",
          "学府路", "滨江路", "创业路", "迎宾大道", "东风路", "青年路", "光明路", "金融街", "软件园路",
          "高新大道", "花园路", "府前路", "朝阳路", "世纪大道", "湖滨路", "南京路", "北京路", "胜利路", "幸福路")
_ESTATES = ("阳光花园", "幸福家园", "锦绣华庭", "翠苑小区", "金色家园", "碧水湾", "万科城", "保利花园", "华润中心",
            "绿地公馆", "恒大名都", "书香苑", "丽景湾", "东方明珠苑")

# Industry, weight, company-name words, domain word, products (also used as product needs).
_INDUSTRIES: list[tuple[str, float, tuple[str, ...], str, tuple[str, ...]]] = [
    ("制造业", 24, ("机械制造", "精密机械", "电子科技", "新材料", "智能装备", "五金制品", "塑胶制品"), "mfg",
     ("数控机床配件", "工业自动化生产线", "工业传感器", "注塑模具", "伺服电机", "车间MES系统", "包装设备")),
    ("零售", 14, ("商贸", "百货", "便利连锁", "贸易"), "trade",
     ("门店收银系统", "货架与陈列道具", "会员营销系统", "冷链展示柜", "进口食品货源")),
    ("互联网", 10, ("网络科技", "信息技术", "软件", "数据科技"), "tech",
     ("云服务器", "数据分析平台", "网络安全服务", "企业邮箱", "CDN加速")),
    ("建筑", 9, ("建设工程", "建筑装饰", "建材"), "build",
     ("钢材", "混凝土外加剂", "工程机械租赁", "防水材料", "装饰石材")),
    ("教育", 8, ("教育科技", "培训学校", "文化传播"), "edu",
     ("智慧教室设备", "在线学习平台", "教学一体机", "实验室器材")),
    ("医疗", 8, ("医疗器械", "医药", "健康科技"), "med",
     ("医用耗材", "检验试剂", "医疗影像设备", "消毒设备", "药品冷链运输")),
    ("金融", 7, ("投资管理", "融资租赁", "资产管理"), "capital",
     ("风控系统", "客户管理系统", "数据中心机柜", "安防监控")),
    ("物流", 7, ("物流", "供应链管理", "货运代理"), "logistics",
     ("仓储管理系统", "物流车辆GPS", "托盘与周转箱", "冷链仓储", "叉车")),
    ("餐饮", 5, ("餐饮管理", "食品"), "food", ("中央厨房设备", "食材配送", "点餐系统", "一次性餐具")),
    ("房地产", 4, ("房地产开发", "物业管理"), "estate", ("智能门禁", "电梯维保", "物业管理系统", "园林绿化")),
    ("能源", 4, ("新能源", "电力设备"), "energy", ("光伏组件", "储能电池", "变压器", "充电桩")),
    ("农业", 4, ("农业科技", "农产品"), "agri", ("农资化肥", "滴灌设备", "农产品冷库", "种子种苗")),
]
_BRAND_LEAD = "恒华鼎宏中博金天嘉润卓瑞永东新远汇启星海盛智安锦正伟诚万富兴明通康信德佳泰宇隆鑫"
_BRAND_TAIL = "信瑞盛达联远桥成禾泽越丰安方华航通明辰纳世源创力腾科邦泰和"
_CO_SUFFIX = (("有限公司", 78), ("股份有限公司", 12), ("有限责任公司", 10))
_COMPANY_SIZES = (("20人以下", 22), ("20-99人", 35), ("100-499人", 25), ("500-999人", 10), ("1000人以上", 8))
_TITLES = (("总经理", 8), ("副总经理", 5), ("采购经理", 16), ("采购专员", 14), ("财务总监", 4), ("技术总监", 5),
           ("行政主管", 7), ("项目经理", 12), ("店长", 6), ("业务经理", 10), ("工程师", 8), ("负责人", 5))
_DECISION = (("本人", 30), ("总经理", 20), ("采购部", 15), ("老板", 12), ("董事会", 5), ("技术部+采购部", 10),
             ("财务总监", 8))
_DECISION_CO = (("总经理", 35), ("董事长", 15), ("采购部", 25), ("技术部+采购部", 15), ("董事会", 10))
_SERVICE_NEEDS = (("安装调试", 20), ("定期维护", 20), ("技术培训", 12), ("快速响应", 18), ("上门服务", 12),
                  ("7×24小时支持", 8), ("延长质保", 10))
_DUE_EXPECT = (("一周内", 20), ("两周内", 20), ("一个月内", 25), ("季度内", 15), ("尽快", 20))
_SOURCES = (("转介绍", 24), ("官网", 15), ("电话", 14), ("展会", 12), ("公众号", 12), ("小程序", 8), ("线下门店", 8),
            ("抖音", 7))
_CREDIT = (("A", 25), ("B", 45), ("C", 22), ("D", 8))
_LEVELS = ("高", "中", "低")
_KEY_ISSUES = ("价格偏高", "交货期长", "售后响应慢", "付款周期长", "需求不明确", "竞品报价更低", "决策流程长")

# Users the seed creates: sales who own customers (relative share of the book), lead, manager.
# Owners are stored by the name a spreadsheet's 负责人 column would carry, and that name is also
# the username, so matching an owner to a user works whichever of the two a page compares.
_SALES = (("王磊", 25), ("李娜", 20), ("张敏", 18), ("刘洋", 15), ("陈静", 12), ("赵强", 10))
_LEAD, _MANAGER = "孙丽", "周涛"

_PHONE_PREFIXES = ((138, 8), (139, 8), (137, 5), (136, 5), (135, 5), (134, 3), (150, 4), (151, 4), (152, 3),
                   (157, 2), (158, 4), (159, 4), (182, 3), (183, 2), (187, 3), (188, 3), (198, 2), (130, 3),
                   (131, 3), (132, 3), (155, 2), (156, 2), (185, 3), (186, 4), (166, 2), (176, 2), (133, 3),
                   (153, 2), (180, 3), (181, 3), (189, 4), (177, 2), (173, 2), (199, 3), (191, 2), (147, 1),
                   (195, 1))
_MAIL_DOMAINS = (("qq.com", 40), ("163.com", 22), ("126.com", 10), ("sina.com", 4), ("foxmail.com", 4),
                 ("139.com", 3), ("outlook.com", 3), ("hotmail.com", 2), ("yeah.net", 2), ("sohu.com", 2))
_CO_MAILBOXES = ("info", "sales", "service", "contact", "purchase", "admin")

_ARCH_SHARES = (0.67, 0.12, 0.07, 0.10, 0.04)  # regular, prospect, new, lapsing, rising
_REGULAR, _PROSPECT, _NEW, _LAPSED, _RISING = range(5)

_TX_KINDS = ("购买", "咨询", "续约", "退货", "投诉")
_TX_BUY, _TX_ASK, _TX_RENEW, _TX_RETURN, _TX_COMPLAINT = range(5)
_TX_NOTES = {
    _TX_BUY: ("批量采购", "年度框架协议下单", "节前备货", "促销活动订单", "补货", "样品采购", "项目采购", "线上商城下单"),
    _TX_ASK: ("询问报价", "咨询交货期", "了解新产品", "咨询售后政策"),
    _TX_RENEW: ("年度服务续约", "维保合同续签", "续订软件授权"),
    _TX_RETURN: ("质量问题退货", "规格不符退货", "多发退回"),
}

_CHANNELS: list[tuple[str, float, tuple[str, ...]]] = [
    ("电话", 35, ("电话回访使用情况", "电话沟通报价细节", "电话确认交货时间", "电话催收货款", "电话介绍新品")),
    ("微信", 30, ("微信发送产品资料", "微信沟通需求变更", "微信发送报价单", "微信答复技术问题")),
    ("邮件", 10, ("邮件发送合同草案", "邮件发送对账单", "邮件发送产品目录")),
    ("拜访", 10, ("上门拜访了解需求", "拜访客户负责人", "现场勘察安装环境")),
    ("面谈", 5, ("面谈商务条款", "面谈年度合作计划")),
    ("线上会议", 10, ("线上会议演示产品", "线上会议方案评审", "线上会议技术交流")),
]
_RESULTS = (("有合作意向", 18), ("已报价，等待答复", 16), ("需再次跟进", 20), ("客户考虑中", 14), ("已达成订单", 12),
            ("问题已解决", 10), ("客户暂无需求", 10))
_NEXT_PLANS = ("下周电话回访", "发送正式报价", "安排技术交流", "月底前拜访", "寄送样品", "邀请参观工厂")
_FOLLOW_TASKS = (("电话回访了解使用情况", "回访满意度", "电话"), ("发送新品报价", "增加订单", "微信"),
                 ("邀请参加新品发布会", "增加订单", "电话"), ("沟通续约事宜", "续约", "面谈"),
                 ("催收逾期货款", "解决问题", "电话"), ("确认交货时间", "解决问题", "微信"),
                 ("上门拜访洽谈合作", "达成合作", "拜访"), ("发送方案与报价", "达成合作", "邮件"))
_REACTIVATE = ("唤醒沉睡客户，介绍优惠活动", "增加订单", "电话")

_COMPLAINT_KINDS: list[tuple[str, float, tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = [
    # kind, weight, reasons, departments, resolutions
    ("商品", 55, ("产品质量不合格", "收到商品破损", "规格型号与订单不符", "产品使用后故障", "缺件少件", "产品与宣传不符"),
     ("生产部", "质检部", "仓储部"), ("退货", "换货", "维修", "折扣")),
    ("服务", 35, ("售后响应不及时", "服务人员态度差", "安装延误", "承诺未兑现", "发票开具错误"),
     ("售后服务部", "客服部", "安装部"), ("道歉", "折扣", "其他")),
    ("其他", 10, ("物流配送延迟", "账单金额有误", "多次催款影响体验"), ("物流部", "财务部", "销售部"), ("道歉", "折扣", "其他")),
]
_REQUESTS = ("退货退款", "换货", "赔偿损失", "上门维修", "书面道歉", "尽快处理", "补发配件")
_COMPLAINT_VIA = (("电话", 45), ("在线客服", 20), ("微信", 20), ("信件", 5), ("传真", 3), ("其他", 7))
_URGENCY = (("特急", 10), ("急", 30), ("一般", 60))
_URGENCY_DAYS = (1, 3, 7)
_REJECT_REASONS = ("超出质保期", "非产品质量问题（人为损坏）", "投诉内容无法核实", "已协商处理完毕，重复投诉")
_OUTCOMES = {"退货": "已办理退货退款", "换货": "已更换新品", "维修": "已安排上门维修并修复", "折扣": "给予下次订单折扣补偿",
             "道歉": "已致电道歉并说明整改措施", "其他": "已协调相关部门处理"}
_SURVEY_VIA = (("问卷", 40), ("电话访谈", 35), ("在线评价", 25))
_SURVEY_COMMENTS = ("希望加快交货速度", "售后响应及时，很满意", "价格偏高", "包装需要改进", "服务人员很专业",
                    "希望提供更多培训", "产品质量稳定", "对账流程可以更简便")
_SURVEY_COLUMNS = ("service_quality", "service_attitude", "efficiency", "professionalism", "product_quality",
                   "packaging")

# Spring Festival (春节) by year: purchases rise in the weeks before it and stop around it.
_SPRING_FESTIVAL = {
    2018: "02-16", 2019: "02-05", 2020: "01-25", 2021: "02-12", 2022: "02-01", 2023: "01-22", 2024: "02-10",
    2025: "01-29", 2026: "02-17", 2027: "02-06", 2028: "01-26", 2029: "02-13", 2030: "02-03", 2031: "01-23",
    2032: "02-11", 2033: "01-31", 2034: "02-19", 2035: "02-08", 2036: "01-28", 2037: "02-15", 2038: "02-04",
}
_MONTH_FACTOR = np.array([0, 1.10, 0.70, 0.95, 1.00, 1.00, 1.05, 0.90, 0.90, 1.05, 1.10, 1.35, 1.40])

_TAGS = ("重点客户", "VIP", "价格敏感", "紧急需求", "长期合作", "老客户推荐", "潜在大客户", "需回访", "战略合作",
         "政府项目", "账期客户")


# --------------------------------------------------------------------------------------
# Small vectorised helpers
# --------------------------------------------------------------------------------------
def _weights(pairs: Sequence[tuple[object, float]]) -> tuple[list, np.ndarray]:
    labels = [p[0] for p in pairs]
    w = np.asarray([p[1] for p in pairs], dtype=float)
    return labels, w / w.sum()


def _pick(rng: np.random.Generator, n: int, pairs: Sequence[tuple[object, float]]) -> np.ndarray:
    """Indices into `pairs`, drawn by weight."""
    _, p = _weights(pairs)
    return rng.choice(len(p), size=n, p=p).astype(np.int32)


def _zipf(k: int, s: float = 0.7) -> np.ndarray:
    w = 1.0 / np.arange(1, k + 1) ** s
    return w / w.sum()


def _alloc(rng: np.random.Generator, n: int, shares: Sequence[float]) -> np.ndarray:
    """Exactly proportional categories in random order, so small archives still get every one."""
    shares = np.asarray(shares, dtype=float) / np.sum(shares)
    counts = np.floor(shares * n).astype(int)
    rest = n - counts.sum()
    if rest:
        counts[np.argsort(-(shares * n - counts), kind="stable")[:rest]] += 1
    return rng.permutation(np.repeat(np.arange(len(shares), dtype=np.int8), counts))


def _obj(values: Sequence[str]) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = list(values)
    return out


def _strs(values: np.ndarray) -> np.ndarray:
    """Integers → their decimal strings (a Python loop, but over plain ints it is quick)."""
    return _obj([str(v) for v in values.tolist()])


def _text(values: np.ndarray) -> pa.Array:
    return pa.array(values, type=pa.string(), from_pandas=True)


def _cat(codes: np.ndarray, labels: Sequence[str]) -> pa.Array:
    """Dictionary-encoded strings: code -1 is NULL. DuckDB reads it without materialising text."""
    codes = np.asarray(codes, dtype=np.int32)
    idx = pa.array(codes, mask=codes < 0, type=pa.int32())
    return pa.DictionaryArray.from_arrays(idx, pa.array(list(labels), type=pa.string()))


def _date(days: np.ndarray, null: np.ndarray | None = None) -> pa.Array:
    arr = pa.array(np.asarray(days, dtype=np.int32), mask=null, type=pa.int32())
    return arr.view(pa.date32())


def _stamp(seconds: np.ndarray, null: np.ndarray | None = None) -> pa.Array:
    arr = pa.array(np.asarray(seconds, dtype=np.int64), mask=null, type=pa.int64())
    return arr.view(pa.timestamp("s"))


def _small(values: np.ndarray, null: np.ndarray | None = None) -> pa.Array:
    return pa.array(np.asarray(values, dtype=np.int8), mask=null, type=pa.int8())


def _money(values: np.ndarray, null: np.ndarray | None = None) -> pa.Array:
    return pa.array(np.asarray(values, dtype=np.float64), mask=null, type=pa.float64())


def _round_money(x: np.ndarray) -> np.ndarray:
    """Large orders are quoted in round tens, small ones to the fen."""
    return np.where(np.abs(x) >= 2000, np.round(x, -1), np.round(x, 2))


def _with_null(values: np.ndarray, null: np.ndarray) -> np.ndarray:
    out = values.astype(object, copy=True)
    out[null] = None
    return out


# Records an archive gets month by month, by the date column its imports arrive in. The seed
# holds them back until every chunk is made and writes each table in that order, so a demo
# archive is laid out as a team's archive is (customers' rows spread over the file), not grouped
# by customer as the generator makes them: what is measured and seen on it is what a team meets.
DATED_TABLES: dict[str, str] = {"transactions": "date", "interactions": "date", "follow_ups": "due",
                                "surveys": "date"}


def _insert(cur: "duckdb.DuckDBPyConnection", table: str, data: pa.Table) -> int:
    if data.num_rows == 0:
        return 0
    view = f"_seed_{table}"
    cols = ", ".join(data.column_names)
    cur.register(view, data)
    try:
        cur.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {view}")
    finally:
        cur.unregister(view)
    return data.num_rows


class _DatedStage:
    """Chunks of the dated tables, kept in temporary tables until `write` puts them in date order
    (ties in the order they were made, so the result stays a function of the seed)."""

    def __init__(self, cur: "duckdb.DuckDBPyConnection") -> None:
        self.cur = cur
        self.columns: dict[str, list[str]] = {}
        self.made = 0

    def add(self, table: str, data: pa.Table) -> int:
        if data.num_rows == 0:
            return 0
        order = pa.array(np.arange(self.made, self.made + data.num_rows, dtype=np.int64))
        self.made += data.num_rows
        staged = data.append_column("_made", order)
        view = f"_seed_{table}"
        self.cur.register(view, staged)
        try:
            if table not in self.columns:
                self.columns[table] = list(data.column_names)
                self.cur.execute(f"CREATE TEMP TABLE _stage_{table} AS SELECT * FROM {view}")
            else:
                cols = ", ".join(staged.column_names)
                self.cur.execute(f"INSERT INTO _stage_{table} ({cols}) SELECT {cols} FROM {view}")
        finally:
            self.cur.unregister(view)
        return data.num_rows

    def write(self) -> None:
        for table, columns in self.columns.items():
            cols = ", ".join(columns)
            self.cur.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM _stage_{table} "
                             f"ORDER BY {DATED_TABLES[table]}, _made")
            self.cur.execute(f"DROP TABLE _stage_{table}")


def _group_starts(keys: np.ndarray) -> np.ndarray:
    """For sorted keys: True where a new run starts."""
    if len(keys) == 0:
        return np.zeros(0, dtype=bool)
    return np.r_[True, keys[1:] != keys[:-1]]


def _rank_in_group(keys: np.ndarray) -> np.ndarray:
    """1-based position of each element within its run of equal (sorted) keys."""
    starts = _group_starts(keys)
    pos = np.arange(len(keys))
    return pos - np.maximum.accumulate(np.where(starts, pos, 0)) + 1


# --------------------------------------------------------------------------------------
# The trade calendar
# --------------------------------------------------------------------------------------
class _Calendar:
    """Day weights for when things happen, and a sampler that draws days by those weights.

    A day is an int: days since 1970-01-01. Sampling inverts the cumulative weight, so a
    window [lo, hi] per row costs one searchsorted for the whole column.
    """

    def __init__(self, today: int) -> None:
        self.today = today
        self.base = today - _HISTORY_DAYS
        days = np.arange(self.base, today + 1)
        dt = days.astype("datetime64[D]")
        month_start = dt.astype("datetime64[M]")
        month = month_start.astype(int) % 12 + 1
        dom = (dt - month_start.astype("datetime64[D]")).astype(int) + 1
        weekday = (days + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
        w = _MONTH_FACTOR[month] * np.where(weekday >= 5, 0.45, 1.0)
        w = w * np.where((month == 10) & (dom <= 7), 0.4, 1.0)  # National Day week
        years = range(int(str(dt[0])[:4]), int(str(dt[-1])[:4]) + 1)
        for year in years:
            sf = np.datetime64(f"{year}-{_SPRING_FESTIVAL.get(year, '02-05')}").astype(int) - self.base
            w[max(sf - 24, 0):max(sf - 3, 0)] *= 1.45
            w[max(sf - 3, 0):max(sf + 8, 0)] *= 0.2
        w = w * np.exp(0.05 * (days - today) / 365.0)  # the business grows
        self.cum = np.concatenate([[0.0], np.cumsum(w)])
        self.ymd = _obj([str(d).replace("-", "") for d in dt])

    def sample(self, lo: np.ndarray, hi: np.ndarray, u: np.ndarray) -> np.ndarray:
        lo_i = np.clip(np.asarray(lo) - self.base, 0, len(self.cum) - 2)
        hi_i = np.clip(np.asarray(hi) - self.base, lo_i, len(self.cum) - 2)
        c0, c1 = self.cum[lo_i], self.cum[hi_i + 1]
        idx = np.searchsorted(self.cum, c0 + u * (c1 - c0), side="right") - 1
        return (np.clip(idx, lo_i, hi_i) + self.base).astype(np.int32)

    def yyyymmdd(self, days: np.ndarray) -> np.ndarray:
        return self.ymd[np.asarray(days) - self.base]


# --------------------------------------------------------------------------------------
# Lookup tables built once per call
# --------------------------------------------------------------------------------------
@dataclass
class _Vocab:
    surnames: np.ndarray
    surname_p: np.ndarray
    given: list[np.ndarray]  # per gender (0 男, 1 女)
    given_p: list[np.ndarray]
    district_p: np.ndarray
    district_region: np.ndarray
    district_city: np.ndarray
    district_name: np.ndarray
    city_name: np.ndarray
    city_short: np.ndarray
    region_names: list[str]
    region_prefix: np.ndarray
    industry_names: list[str]
    industry_p: np.ndarray
    industry_words: list[np.ndarray]
    industry_domain: np.ndarray
    industry_products: list[np.ndarray]
    product_names: list[str]
    product_offset: np.ndarray
    brands: np.ndarray
    brand_p: np.ndarray
    brand_pinyin: np.ndarray


def _vocab() -> _Vocab:
    surnames, sp = _weights(_SURNAMES)
    given, given_p = [], []
    for single, lead, tail, share_single in ((_MALE_SINGLE, _MALE_LEAD, _MALE_TAIL, 0.3),
                                             (_FEMALE_SINGLE, _FEMALE_LEAD, _FEMALE_TAIL, 0.3)):
        names = list(single) + [a + b for a in lead for b in tail if a != b]
        p_single = _zipf(len(single)) * share_single
        pl, pt = _zipf(len(lead), 0.5), _zipf(len(tail), 0.5)
        p_double = np.array([pl[i] * pt[j] for i, a in enumerate(lead) for j, b in enumerate(tail) if a != b])
        p_double = p_double / p_double.sum() * (1 - share_single)
        given.append(_obj(names))
        given_p.append(np.concatenate([p_single, p_double]))

    d_p, d_region, d_city, d_name, city_name, city_short, region_prefix = [], [], [], [], [], [], []
    for r, (_short, prefix, weight, cities) in enumerate(_REGIONS):
        region_prefix.append(prefix)
        cw = np.array([0.5, 0.25, 0.15, 0.1][: len(cities)])
        cw = cw / cw.sum()
        for (city, districts), c_w in zip(cities, cw):
            c = len(city_name)
            city_name.append(city)
            city_short.append(city[:-1] if city.endswith("市") else city)
            for district in districts:
                d_p.append(weight * c_w / len(districts))
                d_region.append(r)
                d_city.append(c)
                d_name.append(district)
    d_p_arr = np.array(d_p)

    ind_names, ind_p = _weights([(i[0], i[1]) for i in _INDUSTRIES])
    products: list[str] = []
    offsets = []
    for ind in _INDUSTRIES:
        offsets.append(len(products))
        products.extend(ind[4])
    brands = [a + b for a in _BRAND_LEAD for b in _BRAND_TAIL if a != b]
    bl, bt = _zipf(len(_BRAND_LEAD), 0.4), _zipf(len(_BRAND_TAIL), 0.4)
    bp = np.array([bl[i] * bt[j] for i, a in enumerate(_BRAND_LEAD) for j, b in enumerate(_BRAND_TAIL) if a != b])
    return _Vocab(
        surnames=_obj(surnames), surname_p=sp, given=given, given_p=given_p,
        district_p=d_p_arr / d_p_arr.sum(), district_region=np.array(d_region, dtype=np.int32),
        district_city=np.array(d_city, dtype=np.int32), district_name=_obj(d_name),
        city_name=_obj(city_name), city_short=_obj(city_short), region_names=[r[0] for r in _REGIONS],
        region_prefix=_obj(region_prefix), industry_names=ind_names, industry_p=ind_p,
        industry_words=[_obj(i[2]) for i in _INDUSTRIES], industry_domain=_obj([i[3] for i in _INDUSTRIES]),
        industry_products=[_obj(i[4]) for i in _INDUSTRIES], product_names=products,
        product_offset=np.array(offsets + [len(products)], dtype=np.int32),
        brands=_obj(brands), brand_p=bp / bp.sum(), brand_pinyin=_obj([name_pinyin(b) for b in brands]),
    )


# --------------------------------------------------------------------------------------
# The plan: who each customer is in time (archetype, first contact, activity window)
# --------------------------------------------------------------------------------------
@dataclass
class _Plan:
    arch: np.ndarray  # int8 archetype
    company: np.ndarray  # bool: the customer is a company
    first_contact: np.ndarray  # day
    start: np.ndarray  # first purchase day (-1: prospect)
    end: np.ndarray  # last day of regular buying
    seq: np.ndarray  # sequence within the first-contact day, for the id
    phone_tail: np.ndarray  # 8 digits, unique across the archive


def _plan(rng: np.random.Generator, n: int, cal: _Calendar) -> _Plan:
    D = cal.today
    arch = _alloc(rng, n, _ARCH_SHARES)
    company = rng.random(n) < 0.07
    fc = np.zeros(n, np.int32)
    start = np.full(n, -1, np.int32)
    end = np.full(n, -1, np.int32)
    lag = rng.geometric(1 / 12, n).clip(max=30).astype(np.int32)

    def pick(mask: np.ndarray, lo_age: int, hi_age: int, a: float, b: float) -> np.ndarray:
        k = int(mask.sum())
        u = 1.0 - rng.beta(a, b, k)  # beta skews towards recent (u near 1 = close to today)
        return cal.sample(np.full(k, D - hi_age), np.full(k, D - lo_age), u)

    m = arch == _PROSPECT
    fc[m] = pick(m, 0, 1095, 1.0, 2.2)

    m = arch == _NEW
    k = int(m.sum())
    first = cal.sample(np.full(k, D - 88), np.full(k, D - 3), rng.random(k))
    start[m] = first
    end[m] = D
    fc[m] = first - rng.geometric(1 / 25, k).clip(max=200) + 1

    def first_buy(m: np.ndarray) -> np.ndarray:
        # History is kept for two years: a relationship older than that shows its first
        # purchase somewhere in the first weeks of the window, not all on one day.
        s = fc[m] + lag[m]
        return np.where(s < D - 730, D - 730 + rng.integers(0, 60, int(m.sum())), s).astype(np.int32)

    for code, lo_age, hi_age, min_start_age in ((_REGULAR, 100, 1095, 95), (_RISING, 200, 1095, 200)):
        m = arch == code
        fc[m] = pick(m, lo_age, hi_age, 1.0, 1.2)
        start[m] = np.minimum(first_buy(m), D - min_start_age)
    m = arch == _REGULAR
    k = int(m.sum())
    end[m] = D - rng.geometric(1 / 12, k).clip(max=60) + 1
    m = arch == _RISING
    k = int(m.sum())
    end[m] = D - 91 - rng.integers(0, 30, k)

    m = arch == _LAPSED
    k = int(m.sum())
    fc[m] = pick(m, 400, 1095, 1.2, 1.0)
    fc_age = D - fc[m]
    end_age = 185 + np.floor(rng.random(k) * (np.minimum(fc_age - 30, 700) - 185)).astype(np.int32)
    end[m] = D - end_age
    start[m] = np.minimum(first_buy(m), end[m] - rng.integers(0, 30, k))

    order = np.lexsort((rng.random(n), fc))
    arch, company, fc, start, end = arch[order], company[order], fc[order], start[order], end[order]
    seq = _rank_in_group(fc).astype(np.int32)
    tails = rng.choice(100_000_000, size=n, replace=False).astype(np.int64)
    return _Plan(arch, company, fc, start, end, seq, tails)


# --------------------------------------------------------------------------------------
# The generator
# --------------------------------------------------------------------------------------
class _Seeder:
    def __init__(self, cur: "duckdb.DuckDBPyConnection", n: int, seed: int, today: _dt.date, batch_id: int) -> None:
        self.cur = cur
        self.n = n
        self.seed = seed
        self.batch_id = batch_id
        self.D = (today - _EPOCH).days
        self.cal = _Calendar(self.D)
        self.v = _vocab()
        self.counts: dict[str, int] = {t: 0 for t in (
            "customers", "customer_tags", "transactions", "interactions", "follow_ups", "complaints", "surveys")}
        self.company_names: set[str] = set()
        self.complaint_parts: list[pd.DataFrame] = []
        self.seq_str = np.empty(0, dtype=object)
        self.stage = _DatedStage(cur)

    # -- whole run ---------------------------------------------------------------------
    def run(self) -> None:
        root = np.random.SeedSequence(self.seed)
        plan_ss, *chunk_ss = root.spawn(1 + (self.n + CHUNK - 1) // CHUNK)
        plan = _plan(np.random.default_rng(plan_ss), self.n, self.cal)
        self.seq_str = _obj([f"{i:03d}" for i in range(int(plan.seq.max()) + 1)])
        for i, lo in enumerate(range(0, self.n, CHUNK)):
            hi = min(lo + CHUNK, self.n)
            self._chunk(np.random.default_rng(chunk_ss[i]), plan, lo, hi)
        self._complaints_out()
        self.stage.write()
        self._dedupe_emails()

    # -- one chunk of customers --------------------------------------------------------
    def _chunk(self, rng: np.random.Generator, plan: _Plan, lo: int, hi: int) -> None:
        v, cal, D = self.v, self.cal, self.D
        m = hi - lo
        arch = plan.arch[lo:hi]
        is_co = plan.company[lo:hi]
        fc = plan.first_contact[lo:hi]
        start = plan.start[lo:hi]
        end = plan.end[lo:hi]
        buyer = arch != _PROSPECT
        ids = "C" + cal.yyyymmdd(fc) + self.seq_str[plan.seq[lo:hi]]
        id_dict = pa.array(ids, type=pa.string())

        # -- who they are --------------------------------------------------------------
        gender = (rng.random(m) < 0.46).astype(np.int8)  # 0 男, 1 女
        surname = v.surnames[rng.choice(len(v.surname_p), m, p=v.surname_p)]
        given = np.empty(m, dtype=object)
        for g in (0, 1):
            sel = gender == g
            given[sel] = v.given[g][rng.choice(len(v.given_p[g]), int(sel.sum()), p=v.given_p[g])]
        person_name = surname + given

        district = rng.choice(len(v.district_p), m, p=v.district_p)
        region = v.district_region[district]
        city = v.district_city[district]
        industry = rng.choice(len(v.industry_p), m, p=v.industry_p).astype(np.int32)
        brand = rng.choice(len(v.brand_p), m, p=v.brand_p)
        word = np.empty(m, dtype=object)
        for i, words in enumerate(v.industry_words):
            sel = industry == i
            word[sel] = words[rng.integers(0, len(words), int(sel.sum()))]
        suffix_labels, _ = _weights(_CO_SUFFIX)
        suffix = _obj(suffix_labels)[_pick(rng, m, _CO_SUFFIX)]
        company_name = v.city_short[city] + v.brands[brand] + word + suffix
        # A company customer's name must not repeat one already in the archive: a second
        # office of the same firm is registered as its branch in the customer's district.
        company_name[is_co] = self._unique_company_names(company_name[is_co], v.district_name[district[is_co]])

        employed = is_co | (rng.random(m) < 0.72)
        name = np.where(is_co, company_name, person_name)
        codes, uniques = pd.factorize(pd.Series(name, dtype=object))
        name_py = _obj([name_pinyin(x) for x in uniques])[codes]
        name_ini = _obj([name_initials(x) for x in uniques])[codes]

        # -- contact details -----------------------------------------------------------
        prefix = np.array([p for p, _ in _PHONE_PREFIXES], dtype=np.int64)[_pick(rng, m, _PHONE_PREFIXES)]
        phone = _strs(prefix * 100_000_000 + plan.phone_tail[lo:hi])
        has_email = rng.random(m) < np.where(is_co, 0.8, 0.65)
        no_phone = has_email & (rng.random(m) < 0.05)
        corp_mail = is_co | (employed & (rng.random(m) < 0.3))
        domain_labels, _ = _weights(_MAIL_DOMAINS)
        domain = _obj(domain_labels)[_pick(rng, m, _MAIL_DOMAINS)]
        tld = _obj([".com", ".com.cn", ".cn"])[rng.choice(3, m, p=[0.6, 0.25, 0.15])]
        corp_domain = v.brand_pinyin[brand] + v.industry_domain[industry] + tld
        domain = np.where(corp_mail, corp_domain, domain)
        style = rng.choice(4, m, p=[0.3, 0.43, 0.22, 0.05])
        year = rng.integers(1965, 2004, m)
        digits = np.where(style == 0, year, np.where(style == 1, rng.integers(1, 10_000, m),
                                                     rng.integers(1000, 10_000_000, m)))
        digit_s = _strs(digits)
        local = np.where(style == 2, name_ini, name_py) + np.where(style == 3, "", digit_s)
        mailbox = _obj(_CO_MAILBOXES)[rng.integers(0, len(_CO_MAILBOXES), m)]
        local = np.where(is_co, mailbox, local)
        email = _with_null(local + "@" + domain, ~has_email)
        phone = _with_null(phone, no_phone)

        # -- profile fields ------------------------------------------------------------
        birth = np.where(rng.random(m) < 0.55, D - rng.integers(22 * 365, 62 * 365, m), 0)
        birth_null = (birth == 0) | is_co
        title_labels, _ = _weights(_TITLES)
        title = np.where(employed & ~is_co & (rng.random(m) < 0.8), _pick(rng, m, _TITLES), -1)
        size = np.where(employed, _pick(rng, m, _COMPANY_SIZES), -1)
        size = np.where(is_co, np.maximum(size, 1), size)  # a registered firm is rarely a micro shop
        region_null = rng.random(m) < 0.02
        road = _obj(_ROADS)[rng.integers(0, len(_ROADS), m)]
        house = _strs(np.minimum(rng.geometric(1 / 120, m), 999))
        flat = (_obj(_ESTATES)[rng.integers(0, len(_ESTATES), m)] + _strs(rng.integers(1, 30, m)) + "栋"
                + _strs(rng.integers(1, 33, m)) + _obj([f"{i:02d}" for i in range(1, 9)])[rng.integers(0, 8, m)] + "室")
        office = np.where(rng.random(m) < 0.5, v.brands[brand] + "大厦" + _strs(rng.integers(2, 30, m)) + "楼",
                          _strs(rng.integers(1, 12, m)) + "号楼" + _strs(rng.integers(1, 20, m)) + "层")
        address = (v.region_prefix[region] + v.city_name[city] + v.district_name[district] + road + house + "号"
                   + np.where(employed, office, flat))
        address = _with_null(address, region_null | (rng.random(m) < 0.04))
        region_code = np.where(region_null, -1, region)
        source = _pick(rng, m, _SOURCES)
        industry_code = np.where(~employed & (rng.random(m) < 0.4), -1, industry)
        owner = np.where(rng.random(m) < 0.01, -1, _pick(rng, m, _SALES))
        owner_names = [s for s, _ in _SALES]
        owner_or_lead = _obj(owner_names + [_LEAD])[np.where(owner < 0, len(owner_names), owner)]
        product = v.product_offset[industry] + np.floor(
            rng.random(m) * (v.product_offset[industry + 1] - v.product_offset[industry])).astype(np.int32)
        need_null = rng.random(m) < 0.08  # data-quality gap: core need unknown → 待跟进
        priority = rng.choice(3, m, p=[0.2, 0.5, 0.3])
        price_sens = rng.choice(3, m, p=[0.35, 0.45, 0.2])
        credit = np.where(buyer & (rng.random(m) < 0.92), _pick(rng, m, _CREDIT), -1)
        credit_base = np.where(is_co, 200_000, np.where(employed, 50_000, 10_000))
        credit_factor = np.array([2.0, 1.0, 0.5, 0.2])[np.maximum(credit, 0)]
        credit_limit = np.round(credit_base * credit_factor * rng.lognormal(0, 0.5, m), -3)
        satisfaction_latent = np.clip(rng.normal(4.0, 0.6, m), 1.5, 5.0)
        decision_labels = list(dict.fromkeys(label for label, _ in _DECISION + _DECISION_CO))
        as_label = np.array([decision_labels.index(label) for label, _ in _DECISION + _DECISION_CO])
        decision = np.where(is_co, as_label[_pick(rng, m, _DECISION_CO) + len(_DECISION)],
                            np.where(rng.random(m) < 0.6, as_label[_pick(rng, m, _DECISION)], -1))

        # -- spending shape ------------------------------------------------------------
        level = rng.lognormal(np.log(np.where(is_co, 6000, np.where(employed, 1500, 500))), 1.0)
        freq = rng.lognormal(np.log(7.5), 0.6, m) * np.where(is_co, 1.3, 1.0)

        tx = self._transactions(rng, arch, start, end, fc, level, freq, satisfaction_latent)
        inter = self._interactions(rng, arch, end, fc)

        # -- derived tracking summary (T4) ---------------------------------------------
        last_int = np.full(m, -1, np.int32)
        ends = np.r_[inter["cidx"][1:] != inter["cidx"][:-1], True] if len(inter["cidx"]) else np.zeros(0, bool)
        last_int[inter["cidx"][ends]] = inter["date"][ends]
        recent = np.bincount(inter["cidx"][inter["date"] > D - 365], minlength=m)
        freq_code = np.select([recent >= 40, recent >= 10, recent >= 3, recent >= 1], [0, 1, 2, 3], -1)
        tracked = np.where(buyer & (rng.random(m) < 0.5), product, -1)
        sat_col = np.where(buyer & (rng.random(m) < 0.35), np.round(satisfaction_latent), -1)
        key_issue = np.where(rng.random(m) < 0.12, rng.integers(0, len(_KEY_ISSUES), m), -1)

        customers = pa.table({
            "customer_id": id_dict,
            "name": _text(name),
            "gender": _cat(np.where(is_co, -1, gender), ["男", "女"]),
            "birth_date": _date(birth, birth_null),
            "phone": _text(phone),
            "email": _text(email),
            "company": _text(_with_null(company_name, ~employed)),
            "title": _cat(title, title_labels),
            "industry": _cat(industry_code, v.industry_names),
            "company_size": _cat(size, _weights(_COMPANY_SIZES)[0]),
            "region": _cat(region_code, v.region_names),
            "address": _text(address),
            "source": _cat(source, _weights(_SOURCES)[0]),
            "owner": _cat(owner, owner_names),
            "decision_maker": _cat(decision, decision_labels),
            "product_need": _cat(np.where(need_null, -1, product), v.product_names),
            "service_need": _cat(np.where(rng.random(m) < 0.7, _pick(rng, m, _SERVICE_NEEDS), -1),
                                 _weights(_SERVICE_NEEDS)[0]),
            "price_sensitivity": _cat(price_sens, _LEVELS),
            "due_expectation": _cat(np.where(rng.random(m) < 0.6, _pick(rng, m, _DUE_EXPECT), -1),
                                    _weights(_DUE_EXPECT)[0]),
            "priority": _cat(priority, _LEVELS),
            "credit_level": _cat(credit, _weights(_CREDIT)[0]),
            "credit_limit": _money(credit_limit, credit < 0),
            "first_contact": _date(fc),
            "last_interaction": _date(last_int, last_int < 0),
            "contact_frequency": _cat(freq_code, ["每周", "每月", "每季度", "不定期"]),
            "tracked_product": _cat(tracked, v.product_names),
            "satisfaction": _small(np.maximum(sat_col, 0), sat_col < 0),
            "key_issue": _cat(key_issue, _KEY_ISSUES),
            "name_pinyin": _text(name_py),
            "name_initials": _text(name_ini),
            "batch_id": pa.array(np.full(m, self.batch_id, dtype=np.int64)),
        })
        self.counts["customers"] += _insert(self.cur, "customers", customers)
        del customers

        # -- complaints (kept until all chunks are done: their ids number per day) ------
        complaints = self._complaints(rng, arch, start, end, ids, phone, email, address, product,
                                      owner_or_lead, satisfaction_latent)
        self.complaint_parts.append(complaints["frame"])
        # A complaint registered by phone usually also lands in the sales log as a 投诉 row.
        also_tx = rng.random(len(complaints["cidx"])) < 0.6
        tx = self._append_complaint_tx(rng, tx, complaints, also_tx)

        self.counts["transactions"] += self.stage.add("transactions", pa.table({
            "customer_id": pa.DictionaryArray.from_arrays(pa.array(tx["cidx"], type=pa.int32()), id_dict),
            "kind": _cat(tx["kind"], _TX_KINDS),
            "date": _date(tx["date"]),
            "amount": _money(tx["amount"], np.isnan(tx["amount"])),
            "rating": _small(np.maximum(tx["rating"], 0), tx["rating"] < 0),
            "note": _text(tx["note"]),
            "batch_id": pa.array(np.full(len(tx["cidx"]), self.batch_id, dtype=np.int64)),
        }))
        del tx

        self.counts["interactions"] += self.stage.add("interactions", self._interaction_table(
            rng, inter, id_dict, product, owner_or_lead))
        del inter

        self.counts["follow_ups"] += self.stage.add("follow_ups", self._follow_ups(
            rng, arch, end, fc, id_dict, owner_or_lead, complaints))
        self.counts["surveys"] += self.stage.add("surveys", self._surveys(
            rng, arch, start, end, id_dict, satisfaction_latent, complaints))
        self.counts["customer_tags"] += _insert(self.cur, "customer_tags", self._tags(
            rng, arch, is_co, level * freq, priority, price_sens, credit, fc, industry, source, id_dict))

    # -- transactions ------------------------------------------------------------------
    def _transactions(self, rng: np.random.Generator, arch: np.ndarray, start: np.ndarray, end: np.ndarray,
                      fc: np.ndarray, level: np.ndarray, freq: np.ndarray, sat: np.ndarray) -> dict[str, np.ndarray]:
        D, cal = self.D, self.cal
        m = len(arch)
        buyer = arch != _PROSPECT
        years = np.maximum(end - start, 0) / 365.0
        damp = np.where(arch == _LAPSED, 0.7, 1.0)
        n_more = np.where(buyer, rng.poisson(freq * years * damp), 0).clip(max=300)
        # the first purchase opens every buyer's history; a prospect may only have asked
        n_ask = np.where(buyer | (fc + 90 < D - 730), 0, rng.poisson(0.6, m))  # history spans two years
        burst = np.where(arch == _RISING, rng.integers(3, 7, m), 0)

        c_first = np.flatnonzero(buyer).astype(np.int32)
        c_more = np.repeat(np.arange(m, dtype=np.int32), n_more)
        c_ask = np.repeat(np.arange(m, dtype=np.int32), n_ask)
        c_burst = np.repeat(np.arange(m, dtype=np.int32), burst)

        d_first = start[c_first]
        d_more = cal.sample(start[c_more], end[c_more], rng.random(len(c_more)))
        d_ask = cal.sample(np.maximum(fc[c_ask], D - 730), np.minimum(fc[c_ask] + 90, D), rng.random(len(c_ask)))
        d_burst = cal.sample(np.full(len(c_burst), D - 89), np.full(len(c_burst), D), rng.random(len(c_burst)))

        k_more = rng.choice(4, len(c_more), p=[0.815, 0.08, 0.07, 0.035]).astype(np.int8)
        cidx = np.concatenate([c_first, c_more, c_ask, c_burst])
        date = np.concatenate([d_first, d_more, d_ask, d_burst])
        kind = np.concatenate([np.zeros(len(c_first), np.int8), k_more, np.full(len(c_ask), _TX_ASK, np.int8),
                               np.zeros(len(c_burst), np.int8)])
        boost = np.concatenate([np.ones(len(c_first) + len(c_more) + len(c_ask)), np.full(len(c_burst), 3.0)])
        k = len(cidx)
        lv = level[cidx] * boost
        # Q4 orders run larger (year-end budgets)
        month = (date.astype("datetime64[D]").astype("datetime64[M]").astype(int) % 12) + 1
        lv = lv * np.where(month >= 11, 1.2, 1.0)
        amount = np.full(k, np.nan)
        buy = kind == _TX_BUY
        amount[buy] = lv[buy] * rng.lognormal(0, 0.5, int(buy.sum()))
        ren = kind == _TX_RENEW
        amount[ren] = lv[ren] * 0.8 * rng.lognormal(0, 0.3, int(ren.sum()))
        ret = kind == _TX_RETURN
        amount[ret] = -lv[ret] * rng.uniform(0.1, 0.7, int(ret.sum()))
        amount = _round_money(amount)
        rated = (buy | ren) & (rng.random(k) < 0.3)
        rating = np.where(rated, np.clip(np.round(sat[cidx] + rng.normal(0, 0.7, k)), 1, 5), -1).astype(np.int8)
        note = np.full(k, None, dtype=object)
        for code, notes in _TX_NOTES.items():
            sel = (kind == code) & (rng.random(k) < (0.12 if code == _TX_BUY else 0.6))
            note[sel] = _obj(notes)[rng.integers(0, len(notes), int(sel.sum()))]
        return {"cidx": cidx, "date": date, "kind": kind, "amount": amount, "rating": rating, "note": note}

    def _append_complaint_tx(self, rng: np.random.Generator, tx: dict[str, np.ndarray],
                             complaints: dict[str, np.ndarray], mask: np.ndarray) -> dict[str, np.ndarray]:
        k = int(mask.sum())
        extra = {
            "cidx": complaints["cidx"][mask], "date": complaints["date"][mask],
            "kind": np.full(k, _TX_COMPLAINT, np.int8), "amount": np.full(k, np.nan),
            "rating": np.where(rng.random(k) < 0.5, rng.integers(1, 3, k), -1).astype(np.int8),
            "note": complaints["reason"][mask],
        }
        out = {key: np.concatenate([tx[key], extra[key]]) for key in tx}
        order = np.lexsort((out["date"], out["cidx"]))  # by customer, then date: compact zone maps
        return {key: val[order] for key, val in out.items()}

    # -- interactions ------------------------------------------------------------------
    def _interactions(self, rng: np.random.Generator, arch: np.ndarray, end: np.ndarray,
                      fc: np.ndarray) -> dict[str, np.ndarray]:
        D, cal = self.D, self.cal
        m = len(arch)
        int_freq = rng.lognormal(np.log(3.0), 0.7, m)
        lo = np.maximum(fc, D - 730)
        hi = np.full(m, D, np.int32)
        lapsed = arch == _LAPSED
        hi[lapsed] = np.minimum(end[lapsed] + 10, D - 185)
        prospect = arch == _PROSPECT
        hi[prospect] = np.minimum(fc[prospect] + 150, D)
        lo = np.minimum(lo, hi)
        count = rng.poisson(int_freq * (hi - lo) / 365.0)
        count = np.where(prospect, 1 + rng.poisson(1.2, m), count)
        count = np.where(arch == _NEW, 1 + rng.poisson(2.0, m), count)
        count = count.clip(max=200)
        # a few customers are in an intense phase: three or more contacts in the last 30 days
        hot = np.zeros(m, bool)
        cand = np.flatnonzero(~lapsed)
        hot[rng.choice(cand, size=int(round(len(cand) * 0.04)), replace=False)] = True
        n_hot = np.where(hot, rng.integers(3, 7, m), 0)
        rising_extra = np.where(arch == _RISING, rng.integers(1, 4, m), 0)

        c_base = np.repeat(np.arange(m, dtype=np.int32), count)
        c_hot = np.repeat(np.arange(m, dtype=np.int32), n_hot)
        c_rise = np.repeat(np.arange(m, dtype=np.int32), rising_extra)
        d_base = cal.sample(lo[c_base], hi[c_base], rng.random(len(c_base)))
        d_hot = cal.sample(np.full(len(c_hot), D - 29), np.full(len(c_hot), D), rng.random(len(c_hot)))
        d_rise = cal.sample(np.full(len(c_rise), D - 89), np.full(len(c_rise), D), rng.random(len(c_rise)))
        cidx = np.concatenate([c_base, c_hot, c_rise])
        date = np.concatenate([d_base, d_hot, d_rise])
        order = np.lexsort((date, cidx))
        return {"cidx": cidx[order], "date": date[order]}

    def _interaction_table(self, rng: np.random.Generator, inter: dict[str, np.ndarray], id_dict: pa.Array,
                           product: np.ndarray, owner: np.ndarray) -> pa.Table:
        k = len(inter["cidx"])
        pairs = [(ch, w / len(contents), content) for ch, w, contents in _CHANNELS for content in contents]
        p = np.array([x[1] for x in pairs])
        pick = rng.choice(len(pairs), k, p=p / p.sum())
        channel_of = np.array([[c for c, _, _ in _CHANNELS].index(x[0]) for x in pairs], dtype=np.int32)
        cidx = inter["cidx"]
        return pa.table({
            "customer_id": pa.DictionaryArray.from_arrays(pa.array(cidx, type=pa.int32()), id_dict),
            "date": _date(inter["date"]),
            "channel": _cat(channel_of[pick], [c for c, _, _ in _CHANNELS]),
            "content": _cat(pick, [x[2] for x in pairs]),
            "product": _cat(np.where(rng.random(k) < 0.5, product[cidx], -1), self.v.product_names),
            "potential_value": _cat(np.where(rng.random(k) < 0.6, rng.choice(3, k, p=[0.2, 0.5, 0.3]), -1), _LEVELS),
            "next_plan": _cat(np.where(rng.random(k) < 0.15, rng.integers(0, len(_NEXT_PLANS), k), -1), _NEXT_PLANS),
            "result": _cat(_pick(rng, k, _RESULTS), _weights(_RESULTS)[0]),
            "created_by": _text(owner[cidx]),
            "batch_id": pa.array(np.full(k, self.batch_id, dtype=np.int64)),
        })

    # -- follow-ups ----------------------------------------------------------------------
    def _follow_ups(self, rng: np.random.Generator, arch: np.ndarray, end: np.ndarray, fc: np.ndarray,
                    id_dict: pa.Array, owner: np.ndarray, complaints: dict[str, np.ndarray]) -> pa.Table:
        D, cal = self.D, self.cal
        m = len(arch)
        lapsed = arch == _LAPSED
        # past follow-ups: done (mostly) or cancelled
        n_done = np.where(arch == _PROSPECT, rng.poisson(0.5, m), rng.poisson(1.2, m))
        c_done = np.repeat(np.arange(m, dtype=np.int32), n_done)
        lo = np.maximum(fc, D - 730)[c_done]
        hi = np.where(lapsed, np.minimum(end + 10, D - 185), D - 1)[c_done]
        due_done = cal.sample(np.minimum(lo, hi), hi, rng.random(len(c_done)))
        cancelled = rng.random(len(c_done)) < 0.08
        done_day = np.minimum(due_done + rng.integers(0, 4, len(c_done)), D)
        done_at = done_day.astype(np.int64) * 86400 + rng.integers(9 * 3600, 19 * 3600, len(c_done))

        # open follow-ups: overdue, due today, this week, later
        open_ = np.flatnonzero(rng.random(m) < np.where(lapsed, 0.25, 0.35)).astype(np.int32)
        k = len(open_)
        when = _alloc(rng, k, (0.35, 0.12, 0.25, 0.28))
        offset = np.select(
            [when == 0, when == 1, when == 2],
            [-np.minimum(rng.geometric(1 / 8, k), 60), np.zeros(k, np.int64), rng.integers(1, 7, k)],
            rng.integers(7, 41, k))
        due_open = (D + offset).astype(np.int32)

        cidx = np.concatenate([c_done, open_])
        due = np.concatenate([due_done, due_open])
        n = len(cidx)
        status = np.concatenate([np.where(cancelled, 2, 1), np.zeros(k, np.int64)])
        tasks = list(_FOLLOW_TASKS) + [_REACTIVATE, ("回访投诉处理结果", "解决问题", "电话")]
        task = rng.integers(0, len(_FOLLOW_TASKS), n)
        task = np.where(lapsed[cidx] & (status == 0), len(_FOLLOW_TASKS), task)
        complained = np.zeros(m, bool)
        complained[complaints["cidx"]] = True
        task = np.where(complained[cidx] & (status == 0) & (rng.random(n) < 0.5), len(_FOLLOW_TASKS) + 1, task)
        channel_labels = sorted({t[2] for t in tasks})
        channel = np.array([channel_labels.index(t[2]) for t in tasks], dtype=np.int32)[task]
        goal_labels = sorted({t[1] for t in tasks})
        goal = np.array([goal_labels.index(t[1]) for t in tasks], dtype=np.int32)[task]
        created = (np.minimum(due - rng.integers(1, 15, n), D).astype(np.int64) * 86400
                   + rng.integers(9 * 3600, 19 * 3600, n))
        done_col = np.concatenate([done_at, np.zeros(k, np.int64)])
        return pa.table({
            "customer_id": pa.DictionaryArray.from_arrays(pa.array(cidx, type=pa.int32()), id_dict),
            "due": _date(due),
            "channel": _cat(channel, channel_labels),
            "content": _cat(task, [t[0] for t in tasks]),
            "goal": _cat(goal, goal_labels),
            "owner": _text(owner[cidx]),
            "status": _cat(status, ["待跟进", "已完成", "已取消"]),
            "origin": _cat(np.zeros(n, np.int32), ["seed"]),
            "created_at": _stamp(created),
            "done_at": _stamp(done_col, status != 1),
            "batch_id": pa.array(np.full(n, self.batch_id, dtype=np.int64)),
        })

    # -- complaints ----------------------------------------------------------------------
    def _complaints(self, rng: np.random.Generator, arch: np.ndarray, start: np.ndarray, end: np.ndarray,
                    ids: np.ndarray, phone: np.ndarray, email: np.ndarray, address: np.ndarray,
                    product: np.ndarray, owner: np.ndarray,
                    sat: np.ndarray) -> dict[str, np.ndarray]:
        D, cal = self.D, self.cal
        buyers = np.flatnonzero(arch != _PROSPECT)
        who = rng.choice(buyers, size=int(round(len(buyers) * 0.035)), replace=False)
        repeat = rng.choice(3, len(who), p=[0.75, 0.2, 0.05]) + 1
        cidx = np.repeat(who, repeat).astype(np.int32)
        k = len(cidx)
        # a lapsed customer's last complaint is part of the history that went quiet
        hi = np.where(arch[cidx] == _LAPSED, end[cidx], np.minimum(end[cidx] + 20, D))
        date = cal.sample(np.minimum(start[cidx], hi), hi, rng.random(k))
        kind = _pick(rng, k, [(c[0], c[1]) for c in _COMPLAINT_KINDS])
        reason = np.empty(k, dtype=object)
        dept = np.empty(k, dtype=object)
        resolution = np.empty(k, dtype=object)
        for i, (_, _, reasons, depts, resolutions) in enumerate(_COMPLAINT_KINDS):
            sel = kind == i
            s = int(sel.sum())
            reason[sel] = _obj(reasons)[rng.integers(0, len(reasons), s)]
            dept[sel] = _obj(depts)[rng.integers(0, len(depts), s)]
            resolution[sel] = _obj(resolutions)[rng.integers(0, len(resolutions), s)]
        urgency = _pick(rng, k, _URGENCY)
        promised = date + np.array(_URGENCY_DAYS)[urgency]
        # outcome: 0 on time, 1 late, 2 still open, 3 rejected; recent ones are more often open
        fate = _alloc(rng, k, (0.70, 0.16, 0.06, 0.08))
        young = (date > D - 30) & (fate <= 1) & (rng.random(k) < 0.35)
        fate = np.where(young, 2, fate)
        span = np.array(_URGENCY_DAYS)[urgency]
        resolved = np.select(
            [fate == 0, fate == 1, fate == 3],
            [date + np.floor(rng.random(k) * (span + 1)).astype(np.int64), promised + rng.integers(1, 12, k),
             date + rng.integers(0, 3, k)], -1)
        resolved = np.where((resolved > D) & (fate != 2), -1, resolved)
        open_ = resolved < 0
        accepted = fate != 3
        loss_median = np.array([800.0, 200.0, 300.0])[kind]
        has_loss = accepted & (rng.random(k) < np.array([0.85, 0.4, 0.3])[kind])
        loss = np.where(has_loss, _round_money(rng.lognormal(np.log(loss_median), 0.9)), np.nan)
        resolution = np.where(accepted & ~open_, resolution, None)
        outcome = np.array([_OUTCOMES[r] if r is not None else None for r in resolution.tolist()], dtype=object)
        outcome = np.where(open_ & accepted, "处理中", outcome)
        outcome = np.where(~accepted, "不予受理，已向客户说明", outcome)
        score = np.clip(np.round(sat[cidx] - np.select([fate == 1, fate == 3], [1.2, 2.0], 0.2)
                                 + rng.normal(0, 0.6, k)), 1, 5)
        satisfaction = np.where(~open_ & (rng.random(k) < 0.7), score, -1)
        contact = np.where(pd.isna(phone[cidx]), email[cidx], phone[cidx])  # emails re-synced after dedupe
        order_ref = np.where((kind == 0) & (rng.random(k) < 0.8),
                             "DD" + cal.yyyymmdd(np.maximum(date - rng.integers(3, 40, k), cal.base))
                             + _strs(rng.integers(1000, 10000, k)), None)
        return {
            "cidx": cidx, "date": date.astype(np.int32), "reason": reason,
            "frame": pd.DataFrame({
                "customer_id": ids[cidx], "date": date.astype(np.int32), "contact": contact,
                "address": address[cidx], "kind": kind, "via": _pick(rng, k, _COMPLAINT_VIA),
                "reason": reason, "request": _obj(_REQUESTS)[rng.integers(0, len(_REQUESTS), k)],
                "accepted": accepted,
                "reject_reason": np.where(accepted, None, _obj(_REJECT_REASONS)[rng.integers(0, 4, k)]),
                "urgency": urgency, "promised_by": promised.astype(np.int32), "resolved_on": resolved.astype(np.int32),
                "department": dept, "resolution": resolution, "loss": loss, "order_ref": order_ref,
                "product": _obj(self.v.product_names)[product[cidx]], "outcome": outcome,
                "satisfaction": satisfaction.astype(np.int8),
                "handler": np.where(rng.random(k) < 0.7, owner[cidx], _LEAD),
            }),
        }

    def _complaints_out(self) -> None:
        """Complaint ids are TS + date + a per-day number, so they are assigned over all chunks."""
        if not self.complaint_parts:
            return
        f = pd.concat(self.complaint_parts, ignore_index=True)
        if f.empty:
            return
        f = f.sort_values(["date", "customer_id"], kind="stable").reset_index(drop=True)
        seq = _rank_in_group(f["date"].to_numpy())
        width = max(3, len(str(int(seq.max()))))
        ids = "TS" + self.cal.yyyymmdd(f["date"].to_numpy()) + _obj([f"{s:0{width}d}" for s in seq.tolist()])
        resolved = f["resolved_on"].to_numpy()
        sat = f["satisfaction"].to_numpy()
        loss = f["loss"].to_numpy()
        table = pa.table({
            "complaint_id": _text(ids),
            "customer_id": _text(f["customer_id"].to_numpy()),
            "date": _date(f["date"].to_numpy()),
            "contact": _text(f["contact"].to_numpy()),
            "address": _text(f["address"].to_numpy()),
            "kind": _cat(f["kind"].to_numpy(), [c[0] for c in _COMPLAINT_KINDS]),
            "via": _cat(f["via"].to_numpy(), _weights(_COMPLAINT_VIA)[0]),
            "reason": _text(f["reason"].to_numpy()),
            "request": _text(f["request"].to_numpy()),
            "accepted": pa.array(f["accepted"].to_numpy(), type=pa.bool_()),
            "reject_reason": _text(f["reject_reason"].to_numpy()),
            "urgency": _cat(f["urgency"].to_numpy(), _weights(_URGENCY)[0]),
            "promised_by": _date(f["promised_by"].to_numpy()),
            "resolved_on": _date(resolved, resolved < 0),
            "department": _text(f["department"].to_numpy()),
            "resolution": _text(f["resolution"].to_numpy()),
            "loss": _money(loss, np.isnan(loss)),
            "order_ref": _text(f["order_ref"].to_numpy()),
            "product": _text(f["product"].to_numpy()),
            "outcome": _text(f["outcome"].to_numpy()),
            "satisfaction": _small(np.maximum(sat, 0), sat < 0),
            "handler": _text(f["handler"].to_numpy()),
            "batch_id": pa.array(np.full(len(f), self.batch_id, dtype=np.int64)),
        })
        self.counts["complaints"] += _insert(self.cur, "complaints", table)

    # -- surveys ---------------------------------------------------------------------------
    def _surveys(self, rng: np.random.Generator, arch: np.ndarray, start: np.ndarray, end: np.ndarray,
                 id_dict: pa.Array,
                 sat: np.ndarray, complaints: dict[str, np.ndarray]) -> pa.Table:
        D, cal = self.D, self.cal
        buyers = np.flatnonzero(arch != _PROSPECT)
        who = np.sort(rng.choice(buyers, size=min(int(round(len(arch) * 0.10)), len(buyers)), replace=False))
        cidx = np.repeat(who, np.where(rng.random(len(who)) < 0.15, 2, 1)).astype(np.int32)
        k = len(cidx)
        hi = np.where(arch[cidx] == _LAPSED, np.minimum(end[cidx] + 10, D), D)
        date = cal.sample(np.minimum(start[cidx] + 7, hi), hi, rng.random(k))
        # complainers remember it: their scores sit lower
        hurt = np.zeros(len(arch))
        np.add.at(hurt, complaints["cidx"], 0.6)
        base = sat[cidx] - np.minimum(hurt[cidx], 1.5)
        cols = {}
        for col in _SURVEY_COLUMNS:
            bias = -0.3 if col == "packaging" else 0.0
            cols[col] = _small(np.clip(np.round(base + bias + rng.normal(0, 0.55, k)), 1, 5))
        return pa.table({
            "customer_id": pa.DictionaryArray.from_arrays(pa.array(cidx, type=pa.int32()), id_dict),
            "date": _date(date),
            "via": _cat(_pick(rng, k, _SURVEY_VIA), _weights(_SURVEY_VIA)[0]),
            **cols,
            "comment": _cat(np.where(rng.random(k) < 0.5, rng.integers(0, len(_SURVEY_COMMENTS), k), -1),
                            _SURVEY_COMMENTS),
            "batch_id": pa.array(np.full(k, self.batch_id, dtype=np.int64)),
        })

    # -- tags ------------------------------------------------------------------------------
    def _tags(self, rng: np.random.Generator, arch: np.ndarray, is_co: np.ndarray, spend: np.ndarray,
              priority: np.ndarray, price_sens: np.ndarray, credit: np.ndarray, fc: np.ndarray,
              industry: np.ndarray, source: np.ndarray, id_dict: pa.Array) -> pa.Table:
        """Hand-kept labels. Combined labels such as 制造业-高价值-紧急需求 are composed by the app
        from industry, computed value and these tags, so only the atoms are stored (as an
        import would store them after splitting on '-')."""
        m = len(arch)
        buyer = arch != _PROSPECT
        u = rng.random((len(_TAGS), m))
        top = np.quantile(spend[buyer], [0.92, 0.97]) if buyer.any() else np.array([np.inf, np.inf])
        co_top = np.quantile(spend[buyer & is_co], 0.8) if (buyer & is_co).any() else np.inf
        edu_med = np.isin(industry, [self.v.industry_names.index("教育"), self.v.industry_names.index("医疗")])
        masks = [
            buyer & (spend >= top[0]),                                 # 重点客户
            buyer & (spend >= top[1]),                                 # VIP
            (price_sens == 0) & (u[2] < 0.5),                          # 价格敏感
            (priority == 0) & (u[3] < 0.4),                            # 紧急需求
            (arch == _REGULAR) & (fc < self.D - 730) & (u[4] < 0.5),   # 长期合作
            (source == 0) & (u[5] < 0.4),                              # 老客户推荐
            (arch == _PROSPECT) & (is_co | (u[6] < 0.1)),              # 潜在大客户
            (arch == _LAPSED) & (u[7] < 0.35),                         # 需回访
            buyer & is_co & (spend >= co_top) & (u[8] < 0.5),          # 战略合作
            edu_med & (u[9] < 0.08),                                   # 政府项目
            (credit == 0) & (u[10] < 0.25),                            # 账期客户
        ]
        cidx = np.concatenate([np.flatnonzero(mk) for mk in masks]).astype(np.int32)
        tag = np.concatenate([np.full(int(mk.sum()), i, np.int32) for i, mk in enumerate(masks)])
        order = np.lexsort((tag, cidx))
        cidx, tag = cidx[order], tag[order]
        return pa.table({
            "customer_id": pa.DictionaryArray.from_arrays(pa.array(cidx, type=pa.int32()), id_dict),
            "tag": _cat(tag, _TAGS),
            "batch_id": pa.array(np.full(len(cidx), self.batch_id, dtype=np.int64)),
        })

    # -- uniqueness ----------------------------------------------------------------------
    def _unique_company_names(self, names: np.ndarray, districts: np.ndarray) -> np.ndarray:
        out = names.copy()
        seen = self.company_names
        for i, (name, district) in enumerate(zip(names.tolist(), districts.tolist())):
            candidate = name
            if candidate in seen:
                place = district[:-1] if len(district) > 2 and district[-1] in "区市镇" else district
                candidate = f"{name}{place}分公司"
                k = 2
                while candidate in seen:
                    candidate = f"{name}{place}第{k}分公司"
                    k += 1
            seen.add(candidate)
            out[i] = candidate
        return out

    def _dedupe_emails(self) -> None:
        """The same pinyin and digits can come up twice; like a mail provider, later sign-ups
        get a numbered variant. '_' never occurs in a generated local part, so the variants
        cannot collide with anything."""
        self.cur.execute(
            """
            UPDATE customers SET email = d.new_email
            FROM (
                SELECT customer_id,
                       split_part(email, '@', 1) || '_' || rn || '@' || split_part(email, '@', 2) AS new_email
                FROM (
                    SELECT customer_id, email,
                           row_number() OVER (PARTITION BY email ORDER BY customer_id) AS rn
                    FROM customers WHERE email IS NOT NULL AND batch_id = ?
                ) WHERE rn > 1
            ) d
            WHERE customers.customer_id = d.customer_id
            """,
            [self.batch_id],
        )
        # complaints registered by e-mail carry the customer's final address
        self.cur.execute(
            """
            UPDATE complaints SET contact = c.email
            FROM customers c
            WHERE complaints.customer_id = c.customer_id AND complaints.batch_id = ?
              AND complaints.contact LIKE '%@%' AND complaints.contact <> c.email
            """,
            [self.batch_id],
        )


# The demo team's passwords (README, 演示账号; the log-in page shows them on a demo archive only).
DEMO_PASSWORDS = {"管理员": "demo-admin-2026", "经理": "demo-manager-2026", "主管": "demo-lead-2026",
                  "销售": "demo-sales-2026", "只读": "demo-viewer-2026"}
DEMO_VIEWER = "访客"


def _insert_users(cur: "duckdb.DuckDBPyConnection") -> int:
    """The demo's team, each with the demo password of its role (argon2id hashes; one hash per role,
    each user gets its own salt); users that already exist are kept."""
    from crm.auth.accounts import HASHER

    rows = [(name, name, "销售") for name, _ in _SALES]
    rows += [(_LEAD, _LEAD, "主管"), (_MANAGER, _MANAGER, "经理"), ("admin", "系统管理员", "管理员"),
             (DEMO_VIEWER, DEMO_VIEWER, "只读")]
    before = int(scalar(cur, "SELECT count(*) FROM users"))
    cur.executemany(
        "INSERT OR IGNORE INTO users (username, display_name, role, password_hash) VALUES (?, ?, ?, ?)",
        [(name, display, role, HASHER.hash(DEMO_PASSWORDS[role])) for name, display, role in rows])
    cur.execute("INSERT OR REPLACE INTO archive_state (key, value) VALUES ('demo', 'true')")
    return int(scalar(cur, "SELECT count(*) FROM users")) - before


def seed_demo(archive: "Archive", customers: int = 2000, seed: int = 42, today: _dt.date | None = None,
              user: str = "seed") -> dict[str, int]:
    """Fill an empty archive with demo data as of `today`; returns rows written per table.

    One transaction: an interrupted seed leaves the archive empty, never half-filled. Refuses
    an archive that already holds customers, so real data is never mixed with invented data.
    The whole result is a function of (customers, seed, today).
    """
    if customers < 1:
        raise ValueError("演示客户数必须大于 0")
    today = today or clock.today()
    with archive.transaction() as cur:
        if scalar(cur, "SELECT count(*) FROM customers"):
            raise ValueError("档案库已有客户数据，不再生成演示数据")
        batch_id = int(scalar(cur, "SELECT nextval('batch_id_seq')"))
        cur.execute(
            "INSERT INTO import_batches (batch_id, file, sheet, template, user_name, rows_read, created) "
            "VALUES (?, '演示数据', NULL, 'SEED', ?, ?, ?)",
            [batch_id, user, customers, customers],
        )
        users = _insert_users(cur)
        seeder = _Seeder(cur, customers, seed, today, batch_id)
        seeder.run()
        refresh_search_text(cur, None)  # everything in the archive is new: one UPDATE for all
        activity.recompute(cur, None)
        activity.mark_current(cur)
        from crm.complaints.handling import adopt_complaints

        adopt_complaints(cur, user, clock.now(), today)  # stages and policy deadlines, as imports give them
        counts = dict(seeder.counts, users=users, import_batches=1, audit_log=1)
        detail = {"seed": seed, "today": today.isoformat(), "counts": counts}
        audit.record(cur, user, "seed", "import_batches", batch_id, detail)
    return counts
