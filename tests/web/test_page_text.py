"""The app's words (issue 23, item 7): every page, form help and error message, as rendered,
has no doubled punctuation (",,", "..", ";;": ellipses and code excluded), and form help that
says "below" or "above" points the way the rendered form is laid out. Also the single text
fixes: the held-out count beside the pool, the "held out" badge explained, attempts shown only
from a second one, the seeds named as seeds, one name for the personal space."""
import re
from html.parser import HTMLParser

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from webapp.lab.services.importers import ImportProblem, parse_upload

from .conftest import experiment_post, make_run, make_sft_experiment, make_task

DOUBLED = re.compile(r"(?<!\.)\.\.(?!\.)|,,|;;|!!|\?\?|,\.(?!\.)|;\.|:\.|\.;|,;|;,")
SKIPPED = {"script", "style", "code", "pre", "textarea", "datalist", "kbd", "samp"}


class _Text(HTMLParser):
    """The words a reader sees (and the titles they hover), without code, scripts or prompts."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts, self.skipping = [], 0

    def handle_starttag(self, tag, attrs):
        if tag in SKIPPED:
            self.skipping += 1
        for name, value in attrs:
            if name in ("title", "placeholder", "data-confirm", "aria-label") and value and not self.skipping:
                self.parts.append(value)

    def handle_endtag(self, tag):
        if tag in SKIPPED and self.skipping:
            self.skipping -= 1

    def handle_data(self, data):
        if not self.skipping:
            self.parts.append(data)


def visible_text(html):
    parser = _Text()
    parser.feed(html)
    return "\n".join(parser.parts)


def doubled(text):
    """Each doubled punctuation mark in `text`, with some context ("..." is an ellipsis, not a fault)."""
    return [text[max(0, m.start() - 30): m.end() + 30] for m in DOUBLED.finditer(text)]


@pytest.mark.parametrize("text, found", [
    ("The submitted file is empty.. Choose a file", True), ("e.g. gentle,, honest", True),
    ("first;; second", True), ("Really?? yes", True), ("wait... then", False), ("Checking…", False),
    ("e.g. 'gentle,', 'honest'", False), ("Done. Next.", False), ("a, b; c: d.", False),
])
def test_the_rule_finds_doubled_punctuation(text, found):
    assert bool(doubled(text)) is found


def test_the_rule_reads_text_not_code():
    html = '<p title="a,, b">x</p><code>a..b</code><pre>x,,y</pre><script>if (a..b)</script><p>ok.</p>'
    [found] = doubled(visible_text(html))
    assert found.startswith("a,, b")


# --- the pages and messages, as rendered --------------------------------------------------

def _messages(response):
    return " ".join(str(m) for m in response.context["messages"]) if response.context else ""


@pytest.fixture
def world(user):
    task = make_task(user, name="reviews", n=20)
    make_task(user, name="eval-only", n=6, held_out=True)
    exp = make_sft_experiment(user)
    return {"task": task, "exp": exp}


def _pages(client, world):
    """(name, html) of every page a user reads, and of forms and importers answering bad input."""
    task, exp = world["task"], world["exp"]
    out = [(url, client.get(url).content.decode()) for url in (
        "/experiments/", "/experiments/new/", f"/experiments/new/?task={task.pk}", f"/experiments/{exp.pk}/",
        "/tasks/", "/tasks/new/", f"/tasks/{task.pk}/", f"/tasks/{task.pk}/edit/", "/compare/",
        "/compare/?a=sft&b=icl", "/teams/", "/account/tokens/")]
    # the forms with their errors
    unreadable = client.post("/experiments/new/", experiment_post(task, methods=["icl"], confirm_unreadable=""))
    out.append(("experiment form, unreadable task", unreadable.content.decode()))
    bad = client.post("/experiments/new/", experiment_post(task, n_values="x", seeds=0, model_name="/no/such/model"))
    out.append(("experiment form, bad fields", bad.content.decode()))
    out.append(("task form, no template", client.post("/tasks/new/", {"name": "t", "kind": "classification",
                                                                         "labels_text": "a,,b"}).content.decode()))
    # importers: the messages shown after the redirect
    for name, body in (("empty.csv", b""), ("rows.csv", b"input,output\nx,\n"), ("rows.jsonl", b"{bad\n"),
                       ("rows.txt", b"x")):
        upload = SimpleUploadedFile(name, body)
        response = client.post(f"/tasks/{task.pk}/import/", {"file": upload, "split": "pool"}, follow=True)
        out.append((f"import {name}", _messages(response)))
    response = client.post(f"/tasks/{task.pk}/import-hub/", {}, follow=True)
    out.append(("hub import, nothing filled", _messages(response)))
    response = client.post(f"/experiments/{exp.pk}/share/", {"days": "x"}, follow=True)
    out.append(("share link, bad expiry", _messages(response)))
    return out


def test_no_page_or_message_has_doubled_punctuation(client_in, world, no_engine_check):
    pages = _pages(client_in, world)
    assert any("Nothing was imported" in html for _, html in pages)  # the importers' messages were read
    faults = {name: found for name, html in pages if (found := doubled(visible_text(html)))}
    assert faults == {}


@pytest.mark.parametrize("body", [b"", b"input,output\n", b"input,output\nx,\n", b"{bad\n", b"[1]\n", b"\x00"])
@pytest.mark.parametrize("name", ["rows.csv", "rows.jsonl"])
def test_importer_messages_have_no_doubled_punctuation(name, body):
    with pytest.raises(ImportProblem) as caught:
        parse_upload(name, body)
    assert doubled(str(caught.value)) == [], str(caught.value)


def test_empty_file_message_reads_as_one_sentence(client_in, world):
    upload = SimpleUploadedFile("empty.csv", b"")
    message = _messages(client_in.post(f"/tasks/{world['task'].pk}/import/", {"file": upload, "split": "pool"},
                                       follow=True))
    assert "The submitted file is empty. Choose" in message, message


# --- "below" and "above" point the right way ----------------------------------------------

# each phrase of the forms' help that points up or down, and the element it points at (a
# fragment of that element's rendered HTML); a new phrase fails the test until it is listed
REFERENTS = {
    r"the check (below|above)": 'id="readability"',
    r"keep the template (below|above)": 'name="input_template"',
    r"model (below|above) to start": 'name="for_model"',
    r"the fields marked (below|above)": 'class="field has-error"',
    r"methods A and B (below|above)": 'name="a"',
}
POINTING = re.compile(r"\b(below|above)\b")


def _pointers(html):
    """(phrase's pattern, direction, where the phrase is, where its referent is) for each
    "below"/"above" in the visible text; the referent's position is None when not listed."""
    text_only = visible_text(html)
    found = []
    for m in POINTING.finditer(text_only):
        context = text_only[max(0, m.start() - 40): m.end() + 40]
        pattern = next((p for p in REFERENTS if re.search(p, context)), None)
        assert pattern is not None, f'"{context}": say where this points (add it to REFERENTS)'
        at = re.search(pattern, html)
        target = html.find(REFERENTS[pattern])
        found.append((pattern, m.group(1), at.start() if at else None, target if target >= 0 else None))
    return found


def test_below_and_above_point_the_right_way(client_in, world, no_engine_check):
    task, exp = world["task"], world["exp"]
    pages = {
        "unreadable": client_in.post("/experiments/new/", experiment_post(task, methods=["icl"],
                                                                          confirm_unreadable="")),
        "bad fields": client_in.post("/experiments/new/", experiment_post(task, n_values="x")),
        "task form": client_in.get("/tasks/new/"),
        "task form, no template": client_in.post("/tasks/new/", {"name": "t", "kind": "classification",
                                                                   "labels_text": "a"}),
        "compare": client_in.get("/compare/"),
        "experiment": client_in.get(f"/experiments/{exp.pk}/"),
    }
    checked = set()
    for name, response in pages.items():
        for pattern, direction, at, target in _pointers(response.content.decode()):
            assert at is not None and target is not None, (name, pattern)
            assert (target > at) == (direction == "below"), f"{name}: '{pattern}' says {direction}"
            checked.add(pattern)
    # the template choice and the experiment form's notice were among them
    assert {r"keep the template (below|above)", r"the fields marked (below|above)"} <= checked


def test_a_pointer_the_wrong_way_fails():
    html = ('<small>Needed only when the check below finds it.</small>'
            '<section id="readability">the check</section>')
    [(pattern, direction, at, target)] = [p for p in _pointers(html) if p[1] == "below"]
    assert target > at  # right
    html = '<section id="readability">x</section><small>Needed only when the check below finds it.</small>'
    [(pattern, direction, at, target)] = _pointers(html)
    assert not (target > at)  # wrong: the test above would fail on it


# --- the single text fixes ----------------------------------------------------------------

def test_task_page_counts_the_held_out_examples_and_explains_the_badge(client_in, user):
    task = make_task(user, name="plain", n=8)
    task.input_template = "{x} "
    task.save()
    page = client_in.get(f"/tasks/{task.pk}/").content.decode()
    assert f"{task.n_pool} in the pool" in page and f"{task.n_eval} held out for evaluation" in page
    assert 'id="template-trailing-space"' in page
    make_task(user, name="eval-only", n=4, held_out=True)
    listing = client_in.get("/tasks/").content.decode()
    badge = re.search(r'<span class="tag" title="([^"]+)">held out', listing)
    assert badge and "Evaluation only" in badge.group(1)


def test_attempts_shown_only_from_the_second(client_in, user):
    exp = make_sft_experiment(user)
    run = make_run(exp, state="done")
    run.attempts = 1
    run.save(update_fields=["attempts"])
    page = client_in.get(f"/experiments/{exp.pk}/").content.decode()
    cell = re.search(r'data-f="attempts">([^<]*)<', page)
    assert cell and cell.group(1).strip() == ""
    run.attempts = 2
    run.save(update_fields=["attempts"])
    from django.core.cache import cache
    cache.clear()
    page = client_in.get(f"/experiments/{exp.pk}/").content.decode()
    assert re.search(r'data-f="attempts">2 of \d', page)


def test_seeds_are_named_as_seeds(client_in, user):
    exp = make_sft_experiment(user)
    text = visible_text(client_in.get(f"/experiments/{exp.pk}/").content.decode())
    assert re.search(r"Seeds\s*1 \(seed 0\)", text), "the seeds setting reads as a count and the seed ids"


def test_one_name_for_the_personal_space(client_in):
    teams = client_in.get("/api/teams/").json()
    items = teams["items"] if isinstance(teams, dict) else teams
    personal = [t for t in items if t["personal"]]
    assert personal and personal[0]["name"] == "Personal space"
    assert "Personal space" in client_in.get("/teams/").content.decode()
