"""The API's JSON body parser: ninja's, plus one check it lacks. JSON may spell a lone
surrogate (`"\\ud800"`), which decodes to a Python string that Postgres cannot store: a task
name or an example input like that answered 500. The parser finds the first such string
(or key) and names where it is, and errors.py answers 422 with that field."""
import json

from ninja.parser import Parser

from webapp.lab.text import lone_surrogate_at


class UnstorableText(ValueError):
    """A JSON string the database cannot store; `field` says where, as errors.py names fields."""

    def __init__(self, field):
        super().__init__(field)
        self.field = field


def field_path(parts):
    """("examples", 0, "input") -> "examples[0].input": how every API error names a field."""
    text = ""
    for p in parts:
        text += f"[{p}]" if isinstance(p, int) else (f".{p}" if text else str(p))
    return text or "body"


def first_unstorable(value, parts=()):
    """The path (a tuple of keys and indexes) of the first string with a lone surrogate, or None.
    Iterative: a body nested thousands deep cannot exhaust the stack here."""
    stack = [(value, parts)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            if lone_surrogate_at(item) is not None:
                return where
        elif isinstance(item, dict):
            for key, sub in reversed(list(item.items())):
                if lone_surrogate_at(key) is not None:
                    return where + (key.encode("utf-8", "replace").decode(),)
                stack.append((sub, where + (key,)))
        elif isinstance(item, list):
            stack.extend((sub, where + (i,)) for i, sub in reversed(list(enumerate(item))))
    return None


class StorableJsonParser(Parser):
    def parse_body(self, request):
        data = json.loads(request.body)
        where = first_unstorable(data)
        if where is not None:
            raise UnstorableText(field_path(where))
        return data
