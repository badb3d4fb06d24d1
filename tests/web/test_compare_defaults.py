"""The compare page's defaults (issue 23, item 5): "Per example" opens on an evaluation task
where both paired methods ran, and the provenance diff of a deliberate cross-model comparison
(two or more models chosen) is collapsed, while an unexpected difference stays open."""
from .test_compare import A_RIGHT, make_exp, make_result, world  # noqa: F401 - fixture
from .conftest import make_task


def test_per_example_defaults_to_a_task_both_methods_ran(world):  # noqa: F811
    c, e1, task = world["client"], world["e1"], world["task"]
    only_a = make_task(world["alice"], name="aaa-first-by-name", team=world["team"])
    make_result(e1, only_a, "icl", 4, 0, A_RIGHT)
    make_result(e1, task, "icl", 4, 0, A_RIGHT)
    make_result(e1, task, "sft", 4, 0, A_RIGHT[::-1])
    assert c.get("/compare/").context["examples"]["eval_task"] == "aaa-first-by-name"  # no pair chosen: the first
    page = c.get("/compare/?a=icl&b=sft")
    assert page.context["examples"]["eval_task"] == task.name
    assert c.get(f"/compare/?a=icl&b=sft&example_task={only_a.name}").context["examples"]["eval_task"] == only_a.name


def test_provenance_diff_collapsed_only_across_chosen_models(world):  # noqa: F811
    c, e1, e2, task = world["client"], world["e1"], world["e2"], world["task"]
    make_result(e1, task, "sft", 4, 0, A_RIGHT, provenance={"model": "embedded", "torch": "2.13.0"})
    make_result(e2, task, "sft", 4, 0, A_RIGHT, provenance={"model": "smollm2-135m", "torch": "2.14.0"})
    across = c.get("/compare/?model=embedded&model=smollm2-135m").content.decode()
    box = across[across.index('id="provenance-diff"'):]
    assert box.index("<details>") < box.index("</div>") and "<details open" not in box
    unexpected = c.get("/compare/").content.decode()
    box = unexpected[unexpected.index('id="provenance-diff"'):]
    assert "<details" not in box[:box.index("</div>")] and "torch" in box
