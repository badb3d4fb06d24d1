"""Scale of one team's data: the task page shows one page of examples (with search), never
all of them; the experiment list never loads the stored configs."""
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from webapp.lab.models import Example, Experiment

from .conftest import make_sft_experiment, make_task

pytestmark = pytest.mark.django_db


def _rows(html):
    body = html.split('<table class="grid examples">', 1)[1].split("</table>", 1)[0]
    return re.findall(r'<td class="num">(\d+)</td><td class="mono">([^<]*)</td>', body)


def test_task_page_paginates_examples(client_in, user):
    task = make_task(user, n=0)
    Example.objects.bulk_create(Example(task=task, position=i, input=f"row {i} {'apple' if i % 50 == 0 else 'pear'}",
                                        output="positive") for i in range(250))
    page = client_in.get(f"/tasks/{task.pk}/").content.decode()
    rows = _rows(page)
    assert len(rows) == 100 and rows[0] == ("1", "row 0 apple") and rows[-1][0] == "100"
    assert "page 1 of 3" in page and 'rel="next"' in page
    last = client_in.get(f"/tasks/{task.pk}/?page=3").content.decode()
    assert [r[0] for r in _rows(last)][:1] == ["201"] and len(_rows(last)) == 50
    assert 'max="250"' in page  # the prompt preview still knows the whole pool
    for bad in ("abc", "999999", "-1", "0"):
        assert client_in.get(f"/tasks/{task.pk}/?page={bad}").status_code == 200


def test_task_page_search(client_in, user):
    task = make_task(user, n=0)
    Example.objects.bulk_create(Example(task=task, position=i, input=f"row {i} {'APPLE' if i % 50 == 0 else 'pear'}",
                                        output="positive") for i in range(250))
    page = client_in.get(f"/tasks/{task.pk}/", {"q": "apple"}).content.decode()
    assert [r[1] for r in _rows(page)] == [f"row {i} APPLE" for i in (0, 50, 100, 150, 200)]
    assert "5 of 250 examples contain" in page
    none = client_in.get(f"/tasks/{task.pk}/", {"q": "<kiwi>"}).content.decode()
    assert _rows(none) == [] and 'No example contains "&lt;kiwi&gt;"' in none


def test_experiment_list_defers_the_stored_config(client_in, user):
    make_sft_experiment(user)
    with CaptureQueriesContext(connection) as ctx:
        page = client_in.get("/experiments/")
    assert page.status_code == 200 and Experiment.objects.count() == 1
    selects = [q["sql"] for q in ctx.captured_queries if 'FROM "lab_experiment"' in q["sql"]]
    assert selects and not any('"lab_experiment"."config"' in sql for sql in selects)


def test_task_page_queries_do_not_grow_with_its_rows(client_in, user):
    """One page of 100 rows costs a fixed number of queries (each row's task was once a
    deferred load: 100 extra queries); the counts come from one aggregate."""
    task = make_task(user, n=0)
    Example.objects.bulk_create(Example(task=task, position=i, input=f"row {i}", output="positive")
                                for i in range(250))
    for url in (f"/tasks/{task.pk}/", f"/tasks/{task.pk}/?page=3", f"/tasks/{task.pk}/?q=row+1"):
        with CaptureQueriesContext(connection) as ctx:
            assert client_in.get(url).status_code == 200
        assert len(ctx.captured_queries) <= 10, (url, [q["sql"][:120] for q in ctx.captured_queries])


def test_the_example_search_and_order_have_their_indexes():
    """Migration 0011: the page's order (task, position, id) and, on Postgres, trigram indexes
    that the case-insensitive search uses (its plan names them)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'lab_example'")
        names = {row[0] for row in cursor.fetchall()}
        assert {"lab_example_task_order", "lab_example_input_trgm", "lab_example_output_trgm"} <= names
        cursor.execute("SET enable_seqscan = off")
        query = Example.objects.filter(input__icontains="needle").only("id").query
        sql, params = query.sql_with_params()
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("SET enable_seqscan = on")
    assert "lab_example_input_trgm" in plan, plan


def test_a_search_sorts_what_it_finds_and_never_walks_the_order_index(user):
    """The search's page query filters first and sorts the matches: walking the order index
    until a page of matches turns up took 90 ms for a rare word in 100,000 examples whenever
    Postgres guessed the word common (selectors.task_examples)."""
    from webapp.lab.selectors import task_examples

    task = make_task(user, n=3000)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE lab_example")
        cursor.execute("SET enable_seqscan = off")
        plans = {}
        for query in ("", "example"):  # a word in every row: the order-index walk at its most tempting
            sql, params = task_examples(task, query)[:100].query.sql_with_params()
            cursor.execute("EXPLAIN " + sql, params)
            plans[query] = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("SET enable_seqscan = on")
    assert "Sort" not in plans[""] and "lab_example_task_order" in plans[""], plans[""]  # a page: the index order
    assert "Sort" in plans["example"] and "lab_example_task_order" not in plans["example"], plans["example"]
