"""跟进队列: staff work their follow-ups, team leads see what is overdue and who is neglected.

- rules: the named rules with their thresholds (buckets, priority order, the next follow-up's
  date, overdue ages, on-time completion), as pure functions of a date and the SQL that applies
  them in DuckDB;
- queue: a user's open follow-ups in buckets and priority order, masked by the reader;
- actions: complete (recording the interaction, optionally planning the next), reschedule,
  reassign — one or many — each audited, each refused cleanly when another session got there first;
- urgent: the 24-hour rule for a 高价值 customer's urgent event;
- neglect: customers that need contact and have no open follow-up;
- pool: the 客户公海 (release after M days without contact, atomic claims up to a limit);
- reports: the team lead's per-owner table, the weekly on-time trend, the exports.
"""
