"""The project's import graph, read from the source with `ast`, and its cycles.

Every import counts: absolute (`import webapp.lab.models`, `from webapp.lab import models`),
relative (`from ..services import cache`, resolved against the importing module's package)
and lazy (an import inside a function, which only hides a cycle until that function runs).
An edge goes to the longest project module the imported name starts with, so
`from .services.cache import remember` is an edge to `...services.cache`, and
`from . import views` an edge to the package's `views` module.

A cycle is a strongly connected group of modules (two or more): each is printed once, with one shortest loop through it, and the count is the number of
such groups. `python -m scripts.import_graph` prints them and exits 1 when there is any;
tests/web/test_import_graph.py asserts the count is zero and reads the same graph for its
layer rules.
"""
import ast
import sys
from collections import deque
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("webapp", "workers")  # the code whose imports are checked


@dataclass(frozen=True)
class Import:
    """One imported name: `target` is what the line names, fully resolved (a module or
    `module.attribute`); `line` its line number in the importing file."""

    target: str
    line: int


def module_name(path, root=ROOT):
    """webapp/lab/views/page_json.py -> webapp.lab.views.page_json (a package: its folder)."""
    parts = list(Path(path).relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _base(module, is_package, level):
    """The package a relative import of `level` dots starts from."""
    parts = module.split(".")
    if not is_package:
        parts.pop()  # a module's "." is its package
    if level - 1 > len(parts):
        return None  # beyond the top: Python refuses it, nothing to record
    return ".".join(parts[:len(parts) - (level - 1)])


def imports_in(path, root=ROOT):
    """Every name the file imports (see `Import`), at any depth of the file."""
    path = Path(path)
    module, is_package = module_name(path, root), path.name == "__init__.py"
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [Import(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                start = _base(module, is_package, node.level)
                if start is None:
                    continue
                base = ".".join(p for p in (start, node.module) if p)
            if base:
                found.append(Import(base, node.lineno))
            found += [Import(f"{base}.{a.name}" if base else a.name, node.lineno) for a in node.names if a.name != "*"]
    return found


def source_files(root=ROOT, packages=PACKAGES):
    """{module name: path} of every .py file under the packages."""
    return {module_name(p, root): p for pkg in packages for p in sorted((Path(root) / pkg).rglob("*.py"))
            if "__pycache__" not in p.parts}


def _owner(name, modules):
    """The longest project module `name` is or lies in, or None (an outside import)."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in modules:
            return candidate
    return None


def graph(root=ROOT, packages=PACKAGES):
    """{module: {imported project module: first line importing it}}; a package naming itself
    (`from . import x` in its __init__) is no edge."""
    files = source_files(root, packages)
    edges = {}
    for module, path in files.items():
        out = edges.setdefault(module, {})
        for imp in imports_in(path, root):
            target = _owner(imp.target, files)
            if target is not None and target != module:
                out.setdefault(target, imp.line)
    return edges


def _components(edges):
    """Strongly connected components (Tarjan, iterative: no recursion limit on a long chain)."""
    index, low, on_stack, stack, found, counter = {}, {}, set(), [], [], [0]
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = counter[0]
        counter[0] += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter[0]
                    counter[0] += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                found.append(sorted(group))
    return found


def _shortest_loop(edges, group):
    """One shortest import loop through the group's first module (breadth-first, inside the group)."""
    start, members = group[0], set(group)
    came_from, queue = {start: None}, deque([start])
    while queue:
        node = queue.popleft()
        for child in sorted(edges.get(node, ())):
            if child == start:
                loop = [node]
                while came_from[loop[-1]] is not None:
                    loop.append(came_from[loop[-1]])
                return [start, *reversed(loop[:-1]), start]
            if child in members and child not in came_from:
                came_from[child] = node
                queue.append(child)
    return group


def cycles(root=ROOT, packages=PACKAGES):
    """[loop, ...]: one shortest loop (a list of modules ending where it starts) per cycle."""
    edges = graph(root, packages)
    groups = [g for g in _components(edges) if len(g) > 1]
    return [_shortest_loop(edges, g) for g in sorted(groups)]


def describe(loop, edges):
    """`a (line 3) -> b (line 12) -> a`: each arrow with the line of the import making it."""
    steps = [f"{a} (line {edges[a][b]})" for a, b in zip(loop, loop[1:])]
    return " -> ".join([*steps, loop[-1]])


def main(argv=None):
    root = Path(argv[0]).resolve() if argv else ROOT
    edges, found = graph(root), cycles(root)
    for loop in found:
        print(describe(loop, edges))
    print(f"{len(found)} import cycle{'' if len(found) == 1 else 's'} in {', '.join(PACKAGES)}/")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
