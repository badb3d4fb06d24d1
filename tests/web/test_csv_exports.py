"""Every CSV the app writes (downloads, exports) passes its cells through
workers/engine/tables.csv_safe, so a spreadsheet never runs a cell as a formula. This scans
the project's code: a module that writes CSV (csv.writer / csv.DictWriter, or answers
text/csv) must call csv_safe; the rule itself is tested in tests/test_tables.py."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WRITES_CSV = re.compile(r"csv\.(?:writer|DictWriter)\(|text/csv")


def test_every_module_that_writes_csv_uses_csv_safe():
    offenders = []
    for folder in ("webapp", "workers", "bench"):
        for path in (ROOT / folder).rglob("*.py"):
            source = path.read_text(encoding="utf-8")
            if WRITES_CSV.search(source) and "csv_safe" not in source:
                offenders.append(str(path.relative_to(ROOT)))
    assert not offenders, f"these write CSV without workers.engine.tables.csv_safe: {offenders}"


def test_the_scan_finds_a_csv_writer():
    assert WRITES_CSV.search("w = csv.writer(handle)") and WRITES_CSV.search('content_type="text/csv"')
    assert not WRITES_CSV.search("reader = csv.DictReader(io.StringIO(text))")
