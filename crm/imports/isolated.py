"""Reading a workbook with python-calamine in a child process, so that no file can take the serving
process down.

calamine is native code: a file the checks in crm.imports.safety do not foresee can still make it
allocate without bound (Rust then aborts the whole process) or panic. Here it runs in a child
interpreter with an address-space limit (RLIMIT_AS), a CPU limit, no core dump and its stderr sent
to /dev/null (a Rust backtrace is not for users), and the parent enforces a wall-clock timeout.
Whatever happens to the child, the parent gets a `ChildFailure` it turns into one Chinese line.

The child is a fresh `python -c` started with subprocess (posix_spawn: safe from Streamlit's
threads), not a multiprocessing process: multiprocessing's spawn and forkserver children both
re-run the parent's `__main__` before their target — under `streamlit run` that imports Streamlit
again for every file read, and with a main that is not a file (`python -`, a notebook) every child
dies before reading. A bare interpreter importing this module and calamine starts in a few tens of
milliseconds.

The file goes to the child through a pipe; rows come back as they are produced, in pickled chunks
of about CHUNK_CELLS cells, so the parent unpickles one chunk while the child converts the next.
"""
from __future__ import annotations

import io
import json
import os
import pickle
import subprocess
import sys
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

CHUNK_CELLS = 60_000
PIPE_BYTES = 1024 * 1024
_BOOT = "import sys, json; sys.path[:0] = json.loads(sys.argv[1]); from crm.imports.isolated import main; main()"


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


_STATES = {"Visible": "visible", "Hidden": "hidden", "VeryHidden": "veryHidden"}


def main() -> None:
    """The child's entry (see _BOOT): its pipes and limits from argv, the file from its input pipe."""
    inbox, outbox = int(sys.argv[2]), int(sys.argv[3])
    memory_bytes, cpu_seconds, max_rows, max_columns, max_cells = (int(x) for x in sys.argv[4:9])
    receive = Connection(inbox, writable=False)
    data = receive.recv_bytes()
    receive.close()
    _child(Connection(outbox, readable=False), data, memory_bytes, cpu_seconds, max_rows, max_columns, max_cells)


def _child(conn: Connection, data: bytes, memory_bytes: int, cpu_seconds: int, max_rows: int, max_columns: int,
           max_cells: int) -> None:
    """Limit itself, read, send ("sheets" …), ("sheet" …), row chunks…, ("done",) or one ("error", kind, sheet, detail)."""
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
            conn.send_bytes(pickle.dumps(("error", "password", None, None)))
            return
        del data
        # pyo3 enums have no .name: str() is "SheetVisibleEnum.Hidden"
        metas = [(m.name, _STATES.get(str(m.visible).rsplit(".", 1)[-1], "visible")) for m in wb.sheets_metadata]
        conn.send_bytes(pickle.dumps(("sheets", metas)))
        for sheet_name, _state in metas:
            sheet = wb.get_sheet_by_name(sheet_name)
            end = sheet.end
            if end is None:
                conn.send_bytes(pickle.dumps(("sheet", sheet_name, 0, 0)))
                continue
            rows_needed, width = end[0] + 1, end[1] + 1
            if rows_needed > max_rows or width > max_columns or rows_needed * width > max_cells:
                conn.send_bytes(pickle.dumps(("error", "extent", sheet_name, (rows_needed, width))))
                return
            conn.send_bytes(pickle.dumps(("sheet", sheet_name, rows_needed, width)))
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
        conn.send_bytes(pickle.dumps(("done",)))
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
        conn.send_bytes(pickle.dumps(message))
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
    """One child reading one file: start it (the file is handed over at once), do other work (the
    parent's own checks), then `collect()`.

    Always `close()` (or use as a context manager): a child still running is killed.
    """

    def __init__(self, data: bytes, *, memory_bytes: int, timeout_seconds: float, max_rows: int, max_columns: int,
                 max_cells: int) -> None:
        self.timeout_seconds = timeout_seconds
        self._deadline = time.monotonic() + timeout_seconds
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        args = [str(memory_bytes), str(int(timeout_seconds) + 1), str(max_rows), str(max_columns), str(max_cells)]
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-c", _BOOT, json.dumps(sys.path), str(to_child_r), str(from_child_w), *args],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                pass_fds=(to_child_r, from_child_w), close_fds=True)
        finally:
            os.close(to_child_r)
            os.close(from_child_w)
        self._conn = Connection(from_child_r, writable=False)
        _widen(self._conn)
        send = Connection(to_child_w, readable=False)
        _widen(send)
        try:
            send.send_bytes(data)
        except OSError:  # the child died before it read the file: collect() reports how
            pass
        finally:
            send.close()

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
            try:
                code = self._process.wait(5)
            except subprocess.TimeoutExpired:
                code = None
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
        """Kill the child if it still runs, reap it, close the pipe."""
        if self._process.poll() is None:
            self._process.kill()
        try:
            self._process.wait(5)
        except subprocess.TimeoutExpired:  # not reaped within the grace period: the OS does it later
            pass
        self._conn.close()
