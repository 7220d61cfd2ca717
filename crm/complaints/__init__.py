"""投诉: register a complaint, handle it through the stages of GB/T 19012 / ISO 10002 against two
clocks, and analyse what the complaints say.

- calendar: working days (Chinese public holidays and 调休 from chinese-calendar, plus the
  archive's own `work_calendar` table for what the library does not know);
- stages: the stages, the allowed moves between them and what each move needs, as data;
- deadlines: the promised deadline and the policy deadline by urgency, kept / breached / open and
  late, breached for good once seen;
- handling: register (validated by the import's cleaners) and move a complaint, audited;
- analysis: counts, trend, Pareto, deadlines, losses, repeat complainers, rates per segment, with
  drill-downs to the complaints behind each figure;
- forms: 投诉处理通知单 and 投诉处理报告表 as .xlsx laid out like the paper forms.
"""
