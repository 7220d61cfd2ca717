"""Reading a workbook with python-calamine in a child process, so that no file can take the serving
process down.

calamine is native code: a file the checks in crm.imports.safety do not foresee can still make it
allocate without bound (Rust then aborts the whole process) or panic. Here it runs in a child
forked from a small forkserver (never from the Streamlit server itself, whose threads make a
plain fork unsafe), with an address-space limit (RLIMIT_AS), no core dump, its stderr sent to
/dev/null (a Rust backtrace is not for users) and a wall-clock timeout enforced by the parent.
Whatever happens to the child, the parent gets a `ChildFailure` it turns into one Chinese line.

Rows come back as they are produced, in pickled chunks of about CHUNK_CELLS cells, so the parent
unpickles one chunk while the child converts the next: on a 100,000-row sheet the child costs a
small fraction of the read (BENCHMARKS.md, bench/bench_reader.py).
"""
from __future__ import annotations

import io
import multiprocessing
import os
import pickle
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

CHUNK_CELLS = 60_000
PIPE_BYTES = 1024 * 1024
_context: Any = None


@dataclass
class ChildSheet:
    """One sheet as the child read it: rows as to_python(skip_empty_area=False) gives them."""
    name: str
    state: str  # visible / hidden / veryHidden
    rows: list[list[Any]] = field(default_factory=list)


class ChildFailure(Exception):
    """The child could not read the file. `kind`: password, corrupt, memory, extent, timeout, crashed;
    `sheet` names the sheet when known, `detail` carries what the message needs (an extent, a signal)."""

    def __init__(self, kind: str, sheet: str | None = None, detail: Any = None) -> None:
        super().__init__(kind, sheet, detail)
        self.kind = kind
        self.sheet = sheet
        self.detail = detail


def _ctx() -> Any:
    """The forkserver context, its server preloading this module (and so python-calamine) alone:
    not the parent's __main__ (Streamlit's or pytest's), which the default preload would import."""
    global _context
    if _context is None:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload([__name__])
        _context = ctx
    return _context


_STATES = {"Visible": "visible", "Hidden": "hidden", "VeryHidden": "veryHidden"}


def _child(conn: Connection, data: bytes, memory_bytes: int, cpu_seconds: int, max_rows: int, max_columns: int,
           max_cells: int) -> None:
    """The child's whole life: limit itself, read, send ("sheets" …), ("sheet" …), ("rows" …)…, ("done",)
    or one ("error", kind, sheet, detail)."""
    import resource

    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    sheet_name: str | None = None
    try:
        import python_calamine as pc

        try:
            wb = pc.CalamineWorkbook.from_filelike(io.BytesIO(data))
        except pc.PasswordError:
            conn.send(("error", "password", None, None))
            return
        del data
        metas = [(m.name, _STATES.get(getattr(m.visible, "name", ""), "visible")) for m in wb.sheets_metadata]
        conn.send(("sheets", metas))
        for sheet_name, _state in metas:
            sheet = wb.get_sheet_by_name(sheet_name)
            end = sheet.end
            if end is None:
                conn.send(("sheet", sheet_name, 0, 0))
                continue
            rows_needed, width = end[0] + 1, end[1] + 1
            if rows_needed > max_rows or width > max_columns or rows_needed * width > max_cells:
                conn.send(("error", "extent", sheet_name, (rows_needed, width)))
                return
            conn.send(("sheet", sheet_name, rows_needed, width))
            per_chunk = max(1, CHUNK_CELLS // width)
            chunk: list[list[Any]] = []
            pad: list[Any] = []
            for row in sheet.iter_rows():
                if len(row) < width:  # iter_rows starts at the first used column; to_python(skip_empty_area=False) at A
                    if len(pad) != width - len(row):
                        pad = [""] * (width - len(row))
                    row = pad + row
                chunk.append(row)
                if len(chunk) >= per_chunk:
                    conn.send_bytes(_dump(chunk))
                    chunk = []
            if chunk:
                conn.send_bytes(_dump(chunk))
            del sheet
        conn.send(("done",))
    except MemoryError:
        _send_quietly(conn, ("error", "memory", sheet_name, None))
    except BaseException as exc:  # calamine's errors, and a Rust panic (pyo3's PanicException is a BaseException)
        _send_quietly(conn, ("error", "corrupt", sheet_name, type(exc).__name__))
    finally:
        conn.close()


def _dump(rows: list[list[Any]]) -> bytes:
    """A chunk of rows for the pipe: the C pickler without its memo (calamine never shares a cell
    object between cells, so remembering each one only costs time)."""
    buf = io.BytesIO()
    pickler = pickle.Pickler(buf, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.fast = True
    pickler.dump(rows)
    return buf.getvalue()


def _send_quietly(conn: Connection, message: tuple[Any, ...]) -> None:
    try:
        conn.send(message)
    except BaseException:  # noqa: BLE001 - the parent reads a closed pipe as a crash, which it reports
        pass


def _widen(conn: Connection) -> None:
    """A pipe buffer that holds a whole chunk (Linux's default is 64 KB): the child can write the next
    chunk while the parent unpickles the last one, instead of each waiting for the other."""
    try:
        import fcntl

        fcntl.fcntl(conn.fileno(), getattr(fcntl, "F_SETPIPE_SZ", 1031), PIPE_BYTES)
    except OSError:  # a smaller system limit (/proc/sys/fs/pipe-max-size): the default buffer still works
        pass


class ReadingChild:
    """One child reading one file: start it, do other work (the parent's own checks), then `collect()`.

    Always `close()` (or use as a context manager): a child still running is killed.
    """

    def __init__(self, data: bytes, *, memory_bytes: int, timeout_seconds: float, max_rows: int, max_columns: int,
                 max_cells: int) -> None:
        ctx = _ctx()
        self._conn, child_end = ctx.Pipe(duplex=False)
        _widen(self._conn)
        self._deadline = time.monotonic() + timeout_seconds
        self.timeout_seconds = timeout_seconds
        self._process = ctx.Process(
            target=_child, daemon=True, name="crm-read",
            args=(child_end, data, memory_bytes, int(timeout_seconds) + 1, max_rows, max_columns, max_cells))
        self._process.start()
        child_end.close()

    def __enter__(self) -> "ReadingChild":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _recv(self) -> tuple[Any, ...]:
        remaining = self._deadline - time.monotonic()
        if remaining <= 0 or not self._conn.poll(remaining):
            raise ChildFailure("timeout", None, self.timeout_seconds)
        try:
            return pickle.loads(self._conn.recv_bytes())
        except (EOFError, OSError):
            self._process.join(5)
            code = self._process.exitcode
            raise ChildFailure("memory" if code in (-6, -9) else "crashed", None, code) from None

    def collect(self) -> list[ChildSheet]:
        """Every sheet with its rows, or ChildFailure."""
        message = self._recv()
        if message[0] == "error":
            raise ChildFailure(message[1], message[2], message[3])
        sheets = {name: ChildSheet(name, state) for name, state in message[1]}
        current: ChildSheet | None = None
        expected = 0
        while True:
            message = self._recv()
            kind = None if isinstance(message, list) else message[0]
            if isinstance(message, list):  # a chunk of rows (sent as a bare list)
                assert current is not None
                current.rows.extend(message)
            elif kind == "sheet":
                self._finish(current, expected)
                current, expected = sheets[message[1]], message[2]
            elif kind == "done":
                self._finish(current, expected)
                return list(sheets.values())
            else:
                raise ChildFailure(message[1], message[2], message[3])

    @staticmethod
    def _finish(sheet: ChildSheet | None, expected: int) -> None:
        """Leading empty rows, when calamine's iterator left them out (as to_python would not)."""
        if sheet is not None and len(sheet.rows) < expected:
            width = len(sheet.rows[0]) if sheet.rows else 0
            sheet.rows[:0] = [[""] * width for _ in range(expected - len(sheet.rows))]

    def close(self) -> None:
        if self._process.is_alive():
            self._process.kill()
        self._process.join(5)
        self._conn.close()
        try:
            self._process.close()
        except ValueError:  # still running after the kill's grace period: the OS reaps it
            pass
