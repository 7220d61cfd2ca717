"""What the 系统管理 page does, without Streamlit: backups and restore (`backup`), destroying a
customer's archive with its 销毁记录 (`destruction`), and reading, exporting and verifying the
audit log (`audit_log`). Every write here is admins only (crm.auth.policy) and audited."""
