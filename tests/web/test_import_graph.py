"""The import graph has the shape docs/architecture.md draws: the engine at the bottom
(imports neither Django, the web app nor the Celery tasks), the Django app above it (never
imports the Celery task module: it sends tasks by name), the task module a thin adapter on
top. Read from the source with `ast`, so a lazy import inside a function counts too."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def imports_of(folder):
    """{file: set of imported module names} for every .py file under `folder`."""
    out = {}
    for path in sorted((ROOT / folder).rglob("*.py")):
        names = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module)
                names.update(f"{node.module}.{a.name}" for a in node.names)
        out[str(path.relative_to(ROOT))] = names
    return out


def offenders(folder, forbidden):
    return sorted((f, n) for f, names in imports_of(folder).items() for n in names
                  if any(n == p or n.startswith(p + ".") for p in forbidden))


def test_engine_imports_neither_django_nor_the_app():
    assert imports_of("workers/engine"), "the scan found no engine files"
    assert offenders("workers/engine", ["django", "webapp", "channels", "celery", "workers.celery_tasks"]) == []


def test_web_app_never_imports_the_celery_task_module():
    assert offenders("webapp", ["workers.celery_tasks"]) == []


def test_task_module_is_an_adapter_over_the_services():
    names = imports_of("workers")["workers/celery_tasks.py"]
    assert "webapp.lab.services.lifecycle" in names
    # the only place in workers/ that knows the web app
    web_users = {f for f, n in offenders("workers", ["webapp", "django"])}
    assert web_users == {"workers/celery_tasks.py"}



def test_architecture_doc_names_real_functions_on_the_progress_path():
    """docs/architecture.md's progress path: at most four named functions, each defined in
    the module the doc names (so the diagram stays true when code moves)."""
    import re

    doc = (ROOT / "docs/architecture.md").read_text()
    stops = re.findall(r"^\((\d)\) ([\w.]+)\s+([\w/]+\.py)$", doc, re.M)
    assert [int(n) for n, _, _ in stops] == list(range(1, len(stops) + 1)) and 1 <= len(stops) <= 4
    for _, name, path in stops:
        tree = ast.parse((ROOT / path).read_text())
        owner, _, func = name.rpartition(".")
        scopes = [n for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n.name == owner] if owner else [tree]
        if owner and not scopes:  # a module-level function written as module.function
            assert Path(path).stem == owner, (name, path)
            scopes = [tree]
        defined = {n.name for s in scopes for n in ast.iter_child_nodes(s) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
        assert func in defined, f"{name} is not defined in {path}"
