"""The package's import graph: layers that import only from the layers above them, and no
cycles, counting imports inside functions too (docs/architecture.md draws the layers)."""

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "keras_models"

ROOT = "keras_models"  # the package's `__init__` alone, not a prefix of every module

#: Module prefixes of each layer, top (imported by all below) first; the longest prefix wins.
LAYERS = (
    (
        "keras_models.arguments",
        "keras_models.attribute_dict",
        "keras_models.layers",
        "keras_models.optimizers",
        "keras_models.progress",
        "keras_models.torch_fast_paths",
        "keras_models.tasks.losses",
        "keras_models.generation.samplers",
        "keras_models.datasets",
    ),
    ("keras_models.presets",),
    ("keras_models.tokenizers",),
    ("keras_models.models",),
    ("keras_models.tasks", "keras_models.generation"),
    tuple(
        f"keras_models.models.{p.name}"
        for p in (PACKAGE / "models").iterdir()
        if (p / "__init__.py").exists()
    ),
    ("keras_models.loading", "keras_models.cli", "keras_models.demo", ROOT),
)

#: The one edge against the order: `from_preset` of the model bases calls the loader lazily.
ALLOWED = {
    ("keras_models.models.backbone", "keras_models.loading.loader"),
    ("keras_models.models.task", "keras_models.loading.loader"),
}


def module_names():
    names = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def import_graph():
    """`{module: {modules it imports}}` within the package, from every import statement."""
    modules = module_names()

    def known(name):
        while name not in modules and "." in name:
            name = name.rsplit(".", 1)[0]
        return name

    graph = {}
    for module, path in modules.items():
        package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(parent + ([node.module] if node.module else []))
                # `from package import module` imports the module; anything else, the base.
                names = [f"{base}.{alias.name}" for alias in node.names]
                names = [n for n in names if n in modules] or [base]
            else:
                continue
            targets.update(known(n) for n in names if n.startswith("keras_models"))
        targets.discard(module)
        graph[module] = targets
    return graph


def layer_of(module):
    best, rank = -1, None
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            inside = module.startswith(prefix + ".") and prefix != ROOT
            if (module == prefix or inside) and len(prefix) > best:
                best, rank = len(prefix), index
    return rank


def cycles(graph):
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


@pytest.fixture(scope="module")
def graph():
    return import_graph()


def test_every_module_has_a_layer(graph):
    assert [m for m in graph if layer_of(m) is None] == []


def test_imports_run_down_the_layers(graph):
    upward = [
        (module, target, layer_of(module), layer_of(target))
        for module, targets in graph.items()
        for target in targets
        if layer_of(target) > layer_of(module) and (module, target) not in ALLOWED
    ]
    assert upward == [], "imports against the layer order (module, target, layers)"


def test_no_import_cycles(graph):
    pruned = {m: {t for t in ts if (m, t) not in ALLOWED} for m, ts in graph.items()}
    assert cycles(pruned) == []


def test_the_checks_see_cycles_and_upward_imports():
    # A checker that finds nothing proves nothing: it must flag a planted cycle.
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert layer_of("keras_models.presets.weights") < layer_of("keras_models.tokenizers.base")
    assert layer_of("keras_models.models.roberta.tasks") > layer_of("keras_models.tasks.common")
    assert layer_of("keras_models.models.task") < layer_of("keras_models.tasks.common")
    assert layer_of("keras_models.unplaced_module") is None
