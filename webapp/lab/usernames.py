"""Usernames that look alike are refused at sign-up: `аlice` (a Cyrillic а) beside `alice`.

Django already stores usernames in NFKC (so `ａｌｉｃｅ` becomes `alice`). This adds Unicode's
confusable skeleton (UTS #39): each character mapped to the prototype it is confusable with,
from Unicode's confusables table (the confusable-homoglyphs package ships it as data), then
case folded. Two names with the same skeleton read the same to a person."""
import functools
import unicodedata

from django.contrib.auth import get_user_model


@functools.lru_cache(maxsize=1)
def _prototypes():
    """{character: its prototype} from the table, which lists each source character with its
    one prototype and each prototype with all its sources. A pair listed only with each other
    (which is the prototype cannot be told) maps both to the smaller one."""
    from confusable_homoglyphs.confusables import confusables_data as table

    mapping = {}
    for char, entries in table.items():
        targets = [e["c"] for e in entries]
        if len(targets) != 1 or char not in [e["c"] for e in table.get(targets[0], [])]:
            continue
        target = targets[0]
        if len(table.get(target, [])) == 1 and target > char:
            continue  # a pair of one source: `char` is the prototype
        mapping[char] = target
    return mapping


def skeleton(name):
    """The name as it reads: NFKC, every character as its prototype, case folded."""
    table = _prototypes()

    def prototypes(text):
        return unicodedata.normalize("NFD", "".join(table.get(c, c) for c in unicodedata.normalize("NFD", text)))

    return prototypes(prototypes(unicodedata.normalize("NFKC", name)).casefold())


def lookalike(name):
    """The existing username that reads like `name` (itself excluded), or None. Reads every
    username: sign-up is rare and throttled, and a lab has hundreds of accounts, not millions."""
    wanted = skeleton(name)
    for existing in get_user_model().objects.exclude(username=name).values_list("username", flat=True).iterator():
        if skeleton(existing) == wanted:
            return existing
    return None
