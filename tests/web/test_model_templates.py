"""A new task's default template follows the chosen model (the engine's local model
registry, workers/engine/local_models.py)."""
from webapp.lab.models import Task
from workers.engine.local_models import get_local_model


def _new_task(client, **over):
    data = {"name": "t", "description": "", "kind": "classification", "input_template": "",
            "answer_parser": "plain", "labels_text": "yes\nno", **over}
    return client.post("/tasks/new/", data)


def test_new_task_form_offers_the_chosen_models_template(client_in):
    for name in ("embedded", "smollm2-135m"):
        form = client_in.get("/tasks/new/", {"model": name}).context["form"]
        assert form["input_template"].value() == get_local_model(name).template
        assert form["for_model"].value() == name
    page = client_in.get("/tasks/new/").content.decode()
    assert "data-templates" in page and "smollm2-135m" in page


def test_empty_template_takes_the_chosen_models(client_in):
    assert _new_task(client_in, name="a", for_model="embedded").status_code == 302
    assert _new_task(client_in, name="b", for_model="smollm2-135m").status_code == 302
    assert Task.objects.get(name="a").input_template == get_local_model("embedded").template
    assert Task.objects.get(name="b").input_template == get_local_model("smollm2-135m").template
    # a template the user wrote wins over the model's
    assert _new_task(client_in, name="c", for_model="embedded", input_template="Q:{x}\nA:").status_code == 302
    assert Task.objects.get(name="c").input_template == "Q:{x}\nA:"


def test_empty_template_without_a_model_names_the_field(client_in):
    response = _new_task(client_in, name="d")
    assert response.status_code == 200 and not Task.objects.filter(name="d").exists()
    assert "choose a model" in response.context["form"].errors["input_template"][0]
