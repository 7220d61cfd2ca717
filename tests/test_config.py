"""crm.config: every environment variable is declared once and listed in the README."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from crm import config

ROOT = Path(__file__).resolve().parent.parent


def test_the_readme_lists_every_environment_variable() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"\| `(CRM_[A-Z_]+)` \|", readme))
    assert listed == {v.name for v in config.ENV_VARS}


def test_no_module_reads_the_environment_on_its_own() -> None:
    """os.environ is read in crm/config.py alone (app.py and pages/ too go through it)."""
    offenders = []
    for path in [*ROOT.glob("crm/**/*.py"), ROOT / "app.py", *ROOT.glob("pages/*.py")]:
        if path.name == "config.py" and path.parent.name == "crm":
            continue
        text = path.read_text(encoding="utf-8")
        if re.search(r"os\.environ|os\.getenv", text):
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def test_an_undeclared_variable_is_a_programming_error() -> None:
    with pytest.raises(KeyError):
        config.env("CRM_NOT_DECLARED")


def test_values_are_read_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRM_MAX_UPLOAD_MB", "2")
    assert config.max_upload_bytes() == 2 * 1024 * 1024
    monkeypatch.setenv("CRM_WARM_SEGMENTS", "0")
    assert config.warm_segments() is False


def test_no_rule_asks_the_machine_for_the_day() -> None:
    """date.today() / datetime.now() appear in crm/clock.py alone."""
    offenders = []
    for path in [*ROOT.glob("crm/**/*.py"), ROOT / "app.py", *ROOT.glob("pages/*.py")]:
        if path.name == "clock.py":
            continue
        if re.search(r"date\.today\(\)|datetime\.now\(|datetime\.today\(\)|time\.localtime", path.read_text(encoding="utf-8")):
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []
