"""Text Postgres can store. A `text` column holds UTF-8 without NUL, and a Python string can
hold what UTF-8 cannot: a lone surrogate (`"\\ud800"` in JSON decodes to one). Such a string
reached the database and answered 500 (issue 22, item 7); the writers check with this first
and answer with the field at fault."""


def lone_surrogate_at(text):
    """The index of the first lone surrogate in `text`, or None."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return exc.start
    return None


def is_storable_text(text):
    """True for a string a text column takes as it is: no NUL, no lone surrogate."""
    return "\x00" not in text and lone_surrogate_at(text) is None
