"""Local accounts and server-side sessions.

Passwords are hashed with argon2id at the OWASP minimum (19 MiB, 2 iterations, parallelism 1) and
rehashed at log-in when the parameters change; they are never stored, logged or shown in clear.
A log-in opens a session: a random token in the `sessions` table with an idle expiry and an
absolute one (settings); log-out, disabling the account or a password reset end it at once.
Failed log-ins are counted: `lockout_failures` within `lockout_window_minutes` lock the account
for `lockout_minutes` (settings); an admin can unlock. Every attempt, failed or not, is audited.

Single sign-on (optional, app.py offers st.login when `.streamlit/secrets.toml` has an `[auth]`
section) maps the e-mail an identity provider vouches for to the account registered with that
address (`set_email`); `sso_log_in` opens the same kind of session, audited like a password log-in,
and refuses an address no active account has. Accounts keep their password all the same: the
password form stays the way in when the provider is down.

Until the archive has its first user, there is nobody to log in as: the app runs in set-up mode
(everyone acts as admin, crm.auth.personal.actor_for) and says so on every page.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from dataclasses import dataclass
from typing import Any, Mapping

import duckdb
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from crm import clock
from crm.auth import audit, policy
from crm.auth.personal import Actor
from crm.db import Archive, fetch_one, scalar
from crm.errors import UserError
from crm.settings import security_settings
from crm.vocabulary import ADMIN, ROLES

# OWASP's minimum for argon2id; argon2-cffi's default (64 MiB, 3, 4) costs ≈ 0.6 s a hash on 2 cores.
HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
MAX_INPUT = 256  # a user name or password longer than this is refused before any work
BAD_LOGIN = "用户名或密码不正确"
SSO_UNKNOWN = ("单点登录的邮箱 {email} 没有对应的本系统账号：请联系管理员在「系统管理 → 用户」中为你的账号登记该邮箱，"
               "或用用户名和密码登录")
SSO_ENDED = "这次单点登录已结束（已退出、超时或账号被停用），请重新单点登录"
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class Session:
    token: str
    username: str
    role: str
    expires_at: dt.datetime

    @property
    def actor(self) -> Actor:
        return Actor(self.username, self.role)


def login_required(archive: Archive) -> bool:
    """Whether the archive has an active account with a password: from then on nobody acts
    without logging in. Before (a fresh archive; one from before accounts, whose users have no
    password yet) the app is in set-up mode."""
    cur = archive.cursor()
    try:
        return bool(scalar(cur, "SELECT count(*) FROM users WHERE active AND password_hash IS NOT NULL"))
    finally:
        cur.close()


def is_demo(archive: Archive) -> bool:
    """An archive made by the demo seed (the log-in page may show the demo accounts)."""
    cur = archive.cursor()
    try:
        return scalar(cur, "SELECT value FROM archive_state WHERE key = 'demo'") == "true"
    finally:
        cur.close()


def check_password(username: str, password: str, min_length: int) -> None:
    """Refuse a password that is too short, too long, or contains the user name."""
    if len(password) > MAX_INPUT:
        raise UserError("password", f"密码不能超过 {MAX_INPUT} 个字符")
    if len(password) < min_length:
        raise UserError("password", f"密码至少需要 {min_length} 个字符")
    if username and username.lower() in password.lower():
        raise UserError("password", "密码不能包含用户名")


def _clean_name(username: str) -> str:
    name = (username or "").strip()
    if not name or len(name) > 64:
        raise UserError("username", "用户名须为 1–64 个字符")
    return name


def add_user(archive: Archive, actor: Actor | str, username: str, role: str, password: str,
             display_name: str | None = None, email: str | None = None) -> None:
    """Create a local account (admins only, or anyone while the archive has no user yet); `email`
    is the address single sign-on maps to it (optional, see set_email)."""
    name = _clean_name(username)
    if role not in ROLES:
        raise UserError("role", f"角色须为：{'、'.join(ROLES)}")
    address = clean_email(email)
    with archive.transaction() as cur:
        if address and fetch_one(cur, "SELECT 1 FROM users WHERE email = ? AND username <> ?", [address, name]):
            raise UserError("email", f"邮箱 {address} 已登记给其他用户")
        if scalar(cur, "SELECT count(*) FROM users WHERE password_hash IS NOT NULL") and not isinstance(actor, str):
            policy.require(actor, "users.manage")
        check_password(name, password, security_settings(cur).min_password_length)
        if fetch_one(cur, "SELECT 1 FROM users WHERE username = ? AND password_hash IS NOT NULL", [name]):
            raise UserError("username", f"用户「{name}」已存在")
        now = clock.now()
        cur.execute("INSERT OR REPLACE INTO users (username, display_name, role, password_hash, active, created_at, "
                    "failed_logins, password_changed_at, email) VALUES (?, ?, ?, ?, TRUE, ?, 0, ?, ?)",
                    [name, display_name or name, role, HASHER.hash(password), now, now, address])
        audit.record(cur, actor, "user_add", "users", name, {"role": role, **({"email": address} if address else {})})


def set_password(archive: Archive, actor: Actor | str, username: str, password: str) -> None:
    """Reset a password (admins; the command line); ends the user's sessions."""
    if not isinstance(actor, str):
        policy.require(actor, "users.manage")
    with archive.transaction() as cur:
        check_password(username, password, security_settings(cur).min_password_length)
        if not fetch_one(cur, "SELECT 1 FROM users WHERE username = ?", [username]):
            raise UserError("username", f"没有用户「{username}」")
        now = clock.now()
        cur.execute("UPDATE users SET password_hash = ?, password_changed_at = ?, failed_logins = 0, locked_until = NULL "
                    "WHERE username = ?", [HASHER.hash(password), now, username])
        _end_sessions(cur, username, "重置密码", now)
        audit.record(cur, actor, "user_password", "users", username, None)


def _is_last_admin(cur: duckdb.DuckDBPyConnection, username: str) -> bool:
    """Whether `username` is the archive's only active admin who can log in: taking that away would
    leave nobody to manage accounts, restore or unlock (short of the command line)."""
    return not scalar(cur, "SELECT count(*) FROM users WHERE role = ? AND active AND password_hash IS NOT NULL "
                           "AND username <> ?", [ADMIN, username]) and bool(
        fetch_one(cur, "SELECT 1 FROM users WHERE username = ? AND role = ? AND active", [username, ADMIN]))


def set_active(archive: Archive, actor: Actor | str, username: str, active: bool) -> None:
    """Disable (ending every session at once) or enable an account; the last admin stays active."""
    if not isinstance(actor, str):
        policy.require(actor, "users.manage")
    with archive.transaction() as cur:
        if not fetch_one(cur, "SELECT 1 FROM users WHERE username = ?", [username]):
            raise UserError("username", f"没有用户「{username}」")
        if not active and _is_last_admin(cur, username):
            raise UserError("username", f"「{username}」是唯一可登录的管理员，不能停用：请先为另一位用户设置管理员角色")
        cur.execute("UPDATE users SET active = ? WHERE username = ?", [active, username])
        if not active:
            _end_sessions(cur, username, "账号已停用", clock.now())
        audit.record(cur, actor, "user_enable" if active else "user_disable", "users", username, None)


def change_role(archive: Archive, actor: Actor | str, username: str, role: str) -> tuple[str, str]:
    """Give an account another role (admins; the command line); returns (old, new). Takes effect on
    the user's next page (a session reads its role from the account each time); audited. The last
    admin keeps the role, so the archive is never left without one."""
    if not isinstance(actor, str):
        policy.require(actor, "users.manage")
    if role not in ROLES:
        raise UserError("role", f"角色须为：{'、'.join(ROLES)}")
    with archive.transaction() as cur:
        row = fetch_one(cur, "SELECT role FROM users WHERE username = ?", [username])
        if row is None:
            raise UserError("username", f"没有用户「{username}」")
        old = row[0]
        if old == role:
            return old, role
        if _is_last_admin(cur, username):
            raise UserError("role", f"「{username}」是唯一可登录的管理员，不能改为其他角色：请先为另一位用户设置管理员角色")
        cur.execute("UPDATE users SET role = ? WHERE username = ?", [role, username])
        audit.record(cur, actor, "user_role", "users", username, {"old": old, "new": role})
    return old, role


def unlock(archive: Archive, actor: Actor | str, username: str) -> None:
    """Lift a lock-out at once (admins; the command line); audited."""
    if not isinstance(actor, str):
        policy.require(actor, "users.manage")
    with archive.transaction() as cur:
        if not fetch_one(cur, "SELECT 1 FROM users WHERE username = ?", [username]):
            raise UserError("username", f"没有用户「{username}」")
        cur.execute("UPDATE users SET failed_logins = 0, locked_until = NULL, first_failed_at = NULL WHERE username = ?",
                    [username])
        audit.record(cur, actor, "user_unlock", "users", username, None)


def clean_email(email: str | None) -> str | None:
    """An account's single sign-on address as stored (trimmed, lower case), None for none; a value
    that is not an address is refused."""
    value = (email or "").strip().lower()
    if not value:
        return None
    if len(value) > 254 or not _EMAIL.match(value):
        raise UserError("email", f"「{value[:60]}」不是有效的邮箱地址")
    return value


def set_email(archive: Archive, actor: Actor | str, username: str, email: str | None) -> str | None:
    """Register (or, with None, remove) the address that single sign-on maps to this account
    (admins; the command line); one account per address; audited. Returns the stored address."""
    if not isinstance(actor, str):
        policy.require(actor, "users.manage")
    value = clean_email(email)
    with archive.transaction() as cur:
        row = fetch_one(cur, "SELECT email FROM users WHERE username = ?", [username])
        if row is None:
            raise UserError("username", f"没有用户「{username}」")
        if value is not None:
            other = fetch_one(cur, "SELECT username FROM users WHERE email = ? AND username <> ?", [value, username])
            if other:
                raise UserError("email", f"邮箱 {value} 已登记给用户「{other[0]}」")
        if row[0] == value:
            return value
        cur.execute("UPDATE users SET email = ? WHERE username = ?", [value, username])
        audit.record(cur, actor, "user_email", "users", username, {"old": row[0], "new": value})
    return value


def sso_identity(claims: Mapping[str, Any]) -> str | None:
    """A digest naming one sign-in at the identity provider (issuer, subject and issue time of the
    identity token Streamlit keeps in its cookie): the same after a page refresh, new after the
    next st.login. None when the claims do not say when they were issued."""
    if not claims.get("sub") or not claims.get("iat"):
        return None
    text = f"{claims.get('iss') or ''}\n{claims['sub']}\n{claims['iat']}"
    return hashlib.sha256(text.encode()).hexdigest()


def sso_log_in(archive: Archive, email: str | None, identity: str | None = None, verified: bool = True) -> Session:
    """Open a session for the active account registered with `email`, the address an identity
    provider signed in (app.py reads it from st.user). Audited like a password log-in, failed or
    not. A lock from wrong passwords does not block it: the lock counters guessing, which a provider
    sign-in does not involve.

    `identity` (sso_identity of the same sign-in) ties the session to that sign-in: asked again
    with the same identity (a page refresh), the live session is resumed; once it has ended, the
    same sign-in opens nothing (SSO_ENDED) until the user signs in at the provider again."""
    address = (email or "").strip().lower()
    if len(address) > MAX_INPUT:
        raise UserError(None, SSO_UNKNOWN.format(email=address[:60] + "…"))
    now = clock.now()
    if identity:
        resumed = _resume(archive, identity)
        if resumed is not None:
            return resumed
    outcome = _sso_attempt(archive, address, identity, verified, now)
    if isinstance(outcome, str):
        raise UserError(None, outcome)
    return outcome


def _resume(archive: Archive, identity: str) -> Session | None:
    """The live session this sign-in opened, touched (None when it opened none); SSO_ENDED when it
    opened one that has ended since."""
    cur = archive.cursor()
    try:
        row = fetch_one(cur, "SELECT token FROM sessions WHERE identity = ? ORDER BY created_at DESC LIMIT 1", [identity])
    finally:
        cur.close()
    if row is None:
        return None
    session = current_session(archive, row[0])
    if session is None:
        raise UserError(None, SSO_ENDED)
    return session


def _sso_attempt(archive: Archive, address: str, identity: str | None, verified: bool,
                 now: dt.datetime) -> "Session | str":
    """One single sign-on attempt in one transaction that always commits: a Session, or the refusal."""
    with archive.transaction() as cur:
        shown = address or "（空）"
        if not verified:
            audit.record(cur, shown, "login_failed", "users", address, "单点登录：身份提供方未验证该邮箱")
            return f"身份提供方没有验证邮箱 {shown}，不能用它登录"
        row = fetch_one(cur, "SELECT username, role, active FROM users WHERE email = ?", [address]) if address else None
        if row is None:
            audit.record(cur, shown, "login_failed", "users", address, "单点登录：没有登记该邮箱的账号")
            return SSO_UNKNOWN.format(email=shown)
        name, role, active = row
        if not active:
            audit.record(cur, name, "login_failed", "users", name, "单点登录：账号已停用")
            return "账号已停用，请联系管理员"
        session = _open_session(cur, name, role, now, identity)
        audit.record(cur, name, "login", "users", name, {"via": "单点登录", "email": address})
    return session


def _open_session(cur: duckdb.DuckDBPyConnection, name: str, role: str, now: dt.datetime,
                  identity: str | None = None) -> Session:
    """A new session row for `name`: a random token, expiring after the absolute limit."""
    token = secrets.token_urlsafe(32)
    expires = now + dt.timedelta(hours=security_settings(cur).absolute_hours)
    cur.execute("INSERT INTO sessions (token, username, created_at, last_seen, expires_at, identity) "
                "VALUES (?, ?, ?, ?, ?, ?)", [token, name, now, now, expires, identity])
    return Session(token, name, role, expires)


def list_users(archive: Archive) -> list[tuple]:
    """(username, display name, role, active, locked until, created at) of every account, by role."""
    cur = archive.cursor()
    try:
        return cur.execute("SELECT username, display_name, role, active, locked_until, created_at FROM users "
                           "ORDER BY role, username").fetchall()
    finally:
        cur.close()


def user_emails(archive: Archive) -> dict[str, str]:
    """username → the single sign-on address registered for it (accounts with one)."""
    cur = archive.cursor()
    try:
        return dict(cur.execute("SELECT username, email FROM users WHERE email IS NOT NULL").fetchall())
    finally:
        cur.close()


def _end_sessions(cur: duckdb.DuckDBPyConnection, username: str, reason: str, now: dt.datetime) -> None:
    cur.execute("UPDATE sessions SET ended_at = ?, ended_reason = ? WHERE username = ? AND ended_at IS NULL",
                [now, reason, username])


def log_in(archive: Archive, username: str, password: str) -> Session:
    """Check the password and open a session; refusals say as little as needed (wrong name and
    wrong password read alike), and count toward the lock-out."""
    if len(username or "") > MAX_INPUT or len(password or "") > MAX_INPUT:
        raise UserError(None, BAD_LOGIN)
    name = (username or "").strip()
    outcome = _attempt(archive, name, password, clock.now())
    if isinstance(outcome, str):  # refused: the attempt and its count are committed, then the user is told
        raise UserError(None, outcome)
    return outcome


def _attempt(archive: Archive, name: str, password: str, now: dt.datetime) -> "Session | str":
    """One log-in attempt in one transaction that always commits: a Session, or the refusal."""
    with archive.transaction() as cur:
        s = security_settings(cur)
        row = fetch_one(cur, "SELECT role, password_hash, active, failed_logins, first_failed_at, locked_until "
                             "FROM users WHERE username = ?", [name])
        if row is None or row[1] is None:
            audit.record(cur, name or "（空）", "login_failed", "users", name, "用户不存在或未设置密码")
            return BAD_LOGIN
        role, stored, active, failures, first_failed, locked_until = row
        if locked_until is not None and locked_until > now:
            audit.record(cur, name, "login_failed", "users", name, "账号已锁定")
            return f"账号已锁定，请于 {locked_until:%H:%M} 后再试，或联系管理员解锁"
        if not active:
            audit.record(cur, name, "login_failed", "users", name, "账号已停用")
            return "账号已停用，请联系管理员"
        try:
            HASHER.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            window = dt.timedelta(minutes=s.lockout_window_minutes)
            if first_failed is None or now - first_failed > window:
                failures, first_failed = 0, now
            failures += 1
            lock = now + dt.timedelta(minutes=s.lockout_minutes) if failures >= s.lockout_failures else None
            cur.execute("UPDATE users SET failed_logins = ?, first_failed_at = ?, locked_until = ? WHERE username = ?",
                        [failures, first_failed, lock, name])
            audit.record(cur, name, "login_failed", "users", name,
                         "密码错误" + ("，账号已锁定" if lock else f"（第 {failures} 次）"))
            return BAD_LOGIN if lock is None else f"密码错误次数过多，账号已锁定 {s.lockout_minutes} 分钟"
        if HASHER.check_needs_rehash(stored):
            cur.execute("UPDATE users SET password_hash = ? WHERE username = ?", [HASHER.hash(password), name])
        cur.execute("UPDATE users SET failed_logins = 0, first_failed_at = NULL, locked_until = NULL WHERE username = ?",
                    [name])
        session = _open_session(cur, name, role, now)
        audit.record(cur, name, "login", "users", name, None)
    return session


# How stale a session's last_seen may get before a page run writes it again. Every script run asks
# for the session (twice: the entry file and the page); writing last_seen each time made every page
# view a write transaction, in line behind a colleague's import (crm.db.WriteGate). The idle expiry
# (minutes, security settings) then ends a session up to this much later than the exact idle time.
SESSION_TOUCH = dt.timedelta(seconds=60)


def current_session(archive: Archive, token: str | None) -> Session | None:
    """The live session for a token (its last activity touched), or None when it has ended,
    expired (idle or absolute) or its account was disabled."""
    if not token:
        return None
    now = clock.now()
    cur = archive.cursor()
    try:
        row = fetch_one(cur, """
            SELECT s.username, u.role, s.last_seen, s.expires_at, s.ended_at, u.active
            FROM sessions s JOIN users u ON u.username = s.username WHERE s.token = ?""", [token])
        idle = dt.timedelta(minutes=security_settings(cur).idle_minutes)
    finally:
        cur.close()
    if row is None:
        return None
    name, role, last_seen, expires, ended, active = row
    if ended is not None or not active:
        return None
    expired = now > expires or now - last_seen > idle
    if not expired and now - last_seen < SESSION_TOUCH:
        return Session(token, name, role, expires)  # touched a moment ago: no write on this run
    try:
        with archive.transaction() as tx:
            if expired:
                tx.execute("UPDATE sessions SET ended_at = ?, ended_reason = ? WHERE token = ? AND ended_at IS NULL",
                           [now, "超时" if now - last_seen > idle else "已到期", token])
            else:
                tx.execute("UPDATE sessions SET last_seen = ? WHERE token = ?", [now, token])
    except duckdb.TransactionException:
        pass  # another run of this session touched it at the same moment: it is alive all the same
    return None if expired else Session(token, name, role, expires)


def log_out(archive: Archive, token: str) -> None:
    with archive.transaction() as cur:
        row = fetch_one(cur, "SELECT username FROM sessions WHERE token = ? AND ended_at IS NULL", [token])
        if row is None:
            return
        cur.execute("UPDATE sessions SET ended_at = ?, ended_reason = '退出登录' WHERE token = ?", [clock.now(), token])
        audit.record(cur, row[0], "logout", "users", row[0], None)
