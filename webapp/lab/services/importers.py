"""Parse uploaded CSV (columns input,output) and JSONL ({"input","output"}) files.

Parsing is all-or-nothing: any bad row raises ImportProblem naming the line,
so callers can save the examples in one transaction or not at all.
"""
import csv
import io
import json

from django.conf import settings

from ..text import lone_surrogate_at
from ..uploads import upload_limit_message

# the csv module's own field limit; JSONL cells get the same one, so both formats agree
MAX_CELL_CHARS = csv.field_size_limit()


class ImportProblem(ValueError):
    """A file that cannot be imported; the message says where and how to fix it."""


def _decode(raw):
    if len(raw) > settings.LAB_MAX_UPLOAD_BYTES:
        raise ImportProblem(upload_limit_message())
    nul = raw.find(b"\x00")
    if nul >= 0:
        raise ImportProblem(f"The file contains a NUL byte (byte {nul}), which text files never do; "
                            "save it again as UTF-8 text.")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportProblem(f"The file is not UTF-8 text (byte {exc.start}); save it as UTF-8.") from exc


def _check_cell(lineno, name, value):
    """Cells the database can store and the model can read in one prompt."""
    if "\x00" in value:
        raise ImportProblem(f'Line {lineno}: "{name}" contains a NUL character (\\u0000); remove it.')
    at = lone_surrogate_at(value)
    if at is not None:
        raise ImportProblem(f'Line {lineno}: "{name}" contains a lone surrogate (\\u{ord(value[at]):04x} at '
                            f"character {at + 1}), which is not text; write the character itself, or both "
                            "halves of its surrogate pair.")
    if len(value) > MAX_CELL_CHARS:
        raise ImportProblem(f'Line {lineno}: "{name}" is {len(value):,} characters long; '
                            f"the limit is {MAX_CELL_CHARS:,}. Shorten the example.")


def parse_csv(raw):
    text = _decode(raw)
    reader = csv.DictReader(io.StringIO(text))
    try:
        fields = [f.strip().lower() for f in (reader.fieldnames or [])]
        if "input" not in fields or "output" not in fields:
            raise ImportProblem(
                f"The CSV header must have the columns input,output (found: {', '.join(fields) or 'nothing'})."
            )
        reader.fieldnames = fields
        rows = [example for row in reader for example in _csv_row(reader.line_num, row)]
    except csv.Error as exc:
        reason = (f"a cell is longer than the limit of {MAX_CELL_CHARS:,} characters; shorten the example"
                  if "field larger" in str(exc) else f"not valid CSV ({exc})")
        raise ImportProblem(f"Line {reader.line_num + 1}: {reason}.") from None
    if not rows:
        raise ImportProblem("The CSV has a header but no examples.")
    return rows


def _csv_row(lineno, row):
    """The example of one CSV row: [] for a blank row, else a list of one."""
    if None in row:
        raise ImportProblem(f"Line {lineno}: more cells than header columns; quote cells that contain commas.")
    inp, out = (row.get("input") or ""), (row.get("output") or "")
    if not inp.strip() and not out.strip():
        return []
    if not inp.strip() or not out.strip():
        raise ImportProblem(f"Line {lineno}: both input and output must be non-empty.")
    _check_cell(lineno, "input", inp)
    _check_cell(lineno, "output", out)
    return [{"input": inp, "output": out}]


def parse_jsonl(raw):
    text = _decode(raw)
    rows = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ImportProblem(f"Line {lineno}: not valid JSON ({exc.msg}).") from exc
        except RecursionError:
            raise ImportProblem(f"Line {lineno}: the JSON is nested too deeply; each line must be a flat "
                                '{"input": ..., "output": ...} object.') from None
        if not isinstance(obj, dict) or "input" not in obj or "output" not in obj:
            raise ImportProblem(f'Line {lineno}: each line must be an object with "input" and "output".')
        inp, out = obj["input"], obj["output"]
        if not isinstance(inp, str) or not isinstance(out, (str, int, float)) or isinstance(out, bool):
            raise ImportProblem(f'Line {lineno}: "input" must be a string and "output" a string or number.')
        out = str(out)
        if not inp.strip() or not out.strip():
            raise ImportProblem(f"Line {lineno}: both input and output must be non-empty.")
        _check_cell(lineno, "input", inp)
        _check_cell(lineno, "output", out)
        rows.append({"input": inp, "output": out})
    if not rows:
        raise ImportProblem("The JSONL file has no examples.")
    return rows


def parse_upload(name, raw):
    lower = (name or "").lower()
    if lower.endswith(".csv"):
        return parse_csv(raw)
    if lower.endswith(".jsonl") or lower.endswith(".json") or lower.endswith(".ndjson"):
        return parse_jsonl(raw)
    raise ImportProblem("Upload a .csv file (columns input,output) or a .jsonl file (one {\"input\",\"output\"} per line).")
