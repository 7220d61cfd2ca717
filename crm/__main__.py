"""`python -m crm` entry point."""
import logging
import logging.handlers
import os
import sys

from crm.cli import main


class _SystemLog(logging.handlers.SysLogHandler):
    """The system log (journald reads /dev/log), never a line on stderr when it cannot be written."""

    def handleError(self, record: logging.LogRecord) -> None:
        pass


def _quiet_logging() -> None:
    """A command prints its outcome and at most one line for a failure on stderr (a cron job's log
    keeps what it prints): what the `crm` logger records — the original of an unexpected failure,
    with its traceback (crm.errors.failure_reason) — goes to the system log where there is one
    (`journalctl -t crm`), else nowhere, never to stderr by logging's last-resort handler."""
    crm_log = logging.getLogger("crm")
    if crm_log.handlers or logging.getLogger().handlers:
        return
    handler: logging.Handler = logging.NullHandler()
    if os.path.exists("/dev/log"):
        try:
            handler = _SystemLog(address="/dev/log")
            handler.ident = "crm: "  # the syslog tag journalctl -t selects by
            handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        except OSError:
            handler = logging.NullHandler()
    crm_log.addHandler(handler)


_quiet_logging()
sys.exit(main())
