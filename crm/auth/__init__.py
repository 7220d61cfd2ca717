"""Who may do what, and what of customers' personal data they may see: the permission policy
(policy), the one door to personal data with masking and scoping (personal), and the one audit
writer (audit)."""
