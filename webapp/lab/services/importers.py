"""Parse uploaded CSV (columns input,output) and JSONL ({"input","output"}) files.

Parsing is all-or-nothing: any bad row raises ImportProblem naming the line,
so callers can save the examples in one transaction or not at all.
"""
import csv
import io
import json

MAX_BYTES = 20 * 1024 * 1024


class ImportProblem(ValueError):
    """A file that cannot be imported; the message says where and how to fix it."""


def _decode(raw):
    if len(raw) > MAX_BYTES:
        raise ImportProblem("The file is larger than 20 MB; split it into smaller files.")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportProblem(f"The file is not UTF-8 text (byte {exc.start}); save it as UTF-8.") from exc


def parse_csv(raw):
    text = _decode(raw)
    reader = csv.DictReader(io.StringIO(text))
    fields = [f.strip().lower() for f in (reader.fieldnames or [])]
    if "input" not in fields or "output" not in fields:
        raise ImportProblem(
            f"The CSV header must have the columns input,output (found: {', '.join(fields) or 'nothing'})."
        )
    reader.fieldnames = fields
    rows = []
    for lineno, row in enumerate(reader, start=2):
        if None in row:
            raise ImportProblem(f"Line {lineno}: more cells than header columns; quote cells that contain commas.")
        inp, out = (row.get("input") or ""), (row.get("output") or "")
        if not inp.strip() and not out.strip():
            continue
        if not inp.strip() or not out.strip():
            raise ImportProblem(f"Line {lineno}: both input and output must be non-empty.")
        rows.append({"input": inp, "output": out})
    if not rows:
        raise ImportProblem("The CSV has a header but no examples.")
    return rows


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
        if not isinstance(obj, dict) or "input" not in obj or "output" not in obj:
            raise ImportProblem(f'Line {lineno}: each line must be an object with "input" and "output".')
        inp, out = obj["input"], obj["output"]
        if not isinstance(inp, str) or not isinstance(out, (str, int, float)) or isinstance(out, bool):
            raise ImportProblem(f'Line {lineno}: "input" must be a string and "output" a string or number.')
        out = str(out)
        if not inp.strip() or not out.strip():
            raise ImportProblem(f"Line {lineno}: both input and output must be non-empty.")
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
