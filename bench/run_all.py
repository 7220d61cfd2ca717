"""Run every benchmark in bench/ in turn, sharing one work directory (the 1M-customer archive is
built once). `make bench`; figures go to BENCHMARKS.md by hand, with the date and machine."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORK = Path("/tmp/crm-bench")


def main() -> int:
    WORK.mkdir(exist_ok=True)
    status = 0
    shared = WORK / "big_1000000.duckdb"
    args = {  # each script's way of naming its archive; bench_profile adds rows, so it gets its own
        "bench_import.py": ["--workdir", str(WORK)],
        "bench_search.py": [str(shared)],
        "bench_profile.py": [str(WORK / "profile_1m.duckdb")],
        "bench_segments.py": ["--workdir", str(WORK), "--date-ordered"],  # both layouts, as in BENCHMARKS.md
    }
    for script in sorted(HERE.glob("bench_*.py")):
        print(f"== {script.name}", flush=True)
        status |= subprocess.call([sys.executable, str(script), *args.get(script.name, [])])
    return status


if __name__ == "__main__":
    sys.exit(main())
