"""Customers: the search box (search, search_keys), the 客户360 profile (profile), writes from the
profile (edits), and each customer's activity summary kept current by every write (activity)."""
