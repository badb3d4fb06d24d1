"""The import graph has the shape docs/architecture.md draws: the engine at the bottom
(imports neither Django, the web app nor the Celery tasks), the Django app above it (never
imports the Celery task module: it sends tasks by name), the task module a thin adapter on
top; no import cycle anywhere in webapp/ and workers/, and no module but a URL conf imports
a views module (views are entry points, never a library).

Read from the source with `ast` by scripts/import_graph.py, so a lazy import inside a
function and a relative import (`from ..celery_tasks import x`) count like any other."""
import ast
import textwrap
from pathlib import Path

from scripts import import_graph

ROOT = Path(__file__).resolve().parents[2]


def imports_of(folder, root=ROOT):
    """{file: set of imported names, resolved} for every .py file under `folder`."""
    return {str(path.relative_to(root)): {i.target for i in import_graph.imports_in(path, root)}
            for path in sorted((Path(root) / folder).rglob("*.py"))}


def offenders(folder, forbidden, root=ROOT):
    return sorted((f, n) for f, names in imports_of(folder, root).items() for n in names
                  if any(n == p or n.startswith(p + ".") for p in forbidden))


def is_views(module):
    return "views" in module.split(".")


def views_importers(root=ROOT):
    """(module, views module it imports, line) for every importer that is not a URL conf."""
    return sorted((m, target, line) for m, edges in import_graph.graph(root).items()
                  if m.split(".")[-1] != "urls" for target, line in edges.items() if is_views(target))


ENGINE_MUST_NOT_IMPORT = ["django", "webapp", "channels", "celery", "workers.celery_tasks"]


def test_engine_imports_neither_django_nor_the_app():
    assert imports_of("workers/engine"), "the scan found no engine files"
    assert offenders("workers/engine", ENGINE_MUST_NOT_IMPORT) == []


def test_web_app_never_imports_the_celery_task_module():
    assert offenders("webapp", ["workers.celery_tasks"]) == []


def test_task_module_is_an_adapter_over_the_services():
    names = imports_of("workers")["workers/celery_tasks.py"]
    assert "webapp.lab.services.lifecycle" in names
    # the only place in workers/ that knows the web app
    web_users = {f for f, n in offenders("workers", ["webapp", "django"])}
    assert web_users == {"workers/celery_tasks.py"}


def test_no_import_cycles_lazy_imports_included():
    edges = import_graph.graph()
    assert len(edges) > 100, "the scan found too few modules"
    assert [import_graph.describe(loop, edges) for loop in import_graph.cycles()] == []


def test_only_url_confs_import_views_modules():
    """Shared reads are selectors, shared writes services, shared responses
    webapp/lab/responses.py: a view module imported elsewhere is a library in disguise."""
    assert views_importers() == []


def _tree(tmp_path, files):
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return tmp_path


def test_the_checker_reads_relative_and_function_level_imports(tmp_path):
    """The rules above must fail on the imports they forbid, written any way Python allows."""
    root = _tree(tmp_path, {
        "workers/__init__.py": "",
        "workers/celery_tasks.py": "",
        "workers/engine/__init__.py": "",
        "workers/engine/good.py": "from .bad import helper\n",
        "workers/engine/bad.py": """
            from ..celery_tasks import run_job

            def helper():
                from . import good  # a lazy import closing a cycle
                from ..celery_tasks import other
        """,
        "webapp/__init__.py": "",
        "webapp/app/__init__.py": "",
        "webapp/app/views.py": "",
        "webapp/app/urls.py": "from . import views\n",
        "webapp/app/helpers.py": "def f():\n    from .views import page\n",
    })
    assert ("workers/engine/bad.py", "workers.celery_tasks.run_job") in offenders("workers/engine",
                                                                             ENGINE_MUST_NOT_IMPORT, root)
    assert ("workers/engine/bad.py", "workers.celery_tasks.other") in offenders("workers/engine",
                                                                           ENGINE_MUST_NOT_IMPORT, root)
    assert import_graph.cycles(root) == [["workers.engine.bad", "workers.engine.good", "workers.engine.bad"]]
    assert import_graph.main([str(root)]) == 1
    assert views_importers(root) == [("webapp.app.helpers", "webapp.app.views", 2)]  # the URL conf may


def test_the_script_exits_0_without_cycles(tmp_path, capsys):
    root = _tree(tmp_path, {"workers/__init__.py": "", "workers/a.py": "from . import b\n",
                            "workers/b.py": "import os\n", "webapp/__init__.py": ""})
    assert import_graph.main([str(root)]) == 0
    assert "0 import cycles" in capsys.readouterr().out


def test_architecture_doc_names_real_functions_on_the_progress_path():
    """docs/architecture.md is short (at most 150 lines) and its progress path names at most
    six functions from the training step to the chart, each defined in the file the doc names
    (Python read with ast, the page's script by its function declaration), so the diagram
    stays true when code moves."""
    import re

    doc = (ROOT / "docs/architecture.md").read_text()
    assert len(doc.splitlines()) <= 150
    stops = re.findall(r"^\((\d)\) ([\w.]+)\s+([\w/]+\.(?:py|js))$", doc, re.M)
    assert [int(n) for n, _, _ in stops] == list(range(1, len(stops) + 1)) and 1 <= len(stops) <= 6
    assert stops[-1][2].endswith(".js"), "the path ends at the chart, in the page's script"
    for _, name, path in stops:
        source = (ROOT / path).read_text()
        if path.endswith(".js"):
            assert re.search(rf"function {re.escape(name)}\(", source), f"{name} is not defined in {path}"
            continue
        tree = ast.parse(source)
        owner, _, func = name.rpartition(".")
        scopes = [n for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n.name == owner] if owner else [tree]
        if owner and not scopes:  # a module-level function written as module.function
            assert Path(path).stem == owner, (name, path)
            scopes = [tree]
        defined = {n.name for s in scopes for n in ast.iter_child_nodes(s) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
        assert func in defined, f"{name} is not defined in {path}"
