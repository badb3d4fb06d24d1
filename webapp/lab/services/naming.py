"""Names for copies that stay unique and within the name field's length."""


def copy_name(base, taken, max_length):
    """"base (copy)", then "base (copy 2)", ...: the first that `taken(name)` says is free,
    with `base` shortened (ending in "…") so that the whole name fits `max_length`."""
    i = 1
    while True:
        suffix = " (copy)" if i == 1 else f" (copy {i})"
        room = max_length - len(suffix)
        stem = base if len(base) <= room else base[: room - 1].rstrip() + "…"
        name = stem + suffix
        if not taken(name):
            return name
        i += 1
