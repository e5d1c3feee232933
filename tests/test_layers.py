"""The dependency rule: every app imports only the layers below its own.

The layers, top to bottom, as ``docs/architecture.md`` draws them. Apps that share a layer do
not import each other. The tools around the apps (``bench``, ``harness``, ``tests``) may import
anything and are not checked.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

LAYERS: list[set[str]] = [
    {"config"},  # the project package: settings, URLs, ASGI, Celery, the workspace page
    {"api"},  # the HTTP API and /v1: a door onto every feature
    {"search", "notifications"},
    {"assistant"},  # answers in threads, grounded in the workspace's knowledge
    {"knowledge"},
    {"documents"},
    {"chat"},
    {"jobs"},  # one lifecycle and one runner for every kind of model work
    {"llm"},  # the models, the engine, prompt formats
    {"workspace"},  # workspaces, memberships, invitations
    {"realtime"},  # topics, publish, fan-out, the member socket: knows no domain model
]
LAYER_OF = {app: depth for depth, apps in enumerate(LAYERS) for app in apps}


def imported_apps(source: Path) -> set[str]:
    """The project apps that ``source`` imports (absolute imports; relative ones stay inside)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source.read_text(), filename=str(source))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {name.split(".")[0] for name in names} & LAYER_OF.keys()


def upward_imports(app: str, root: Path = ROOT) -> list[str]:
    """``file -> app`` for each import in ``app`` of its own layer or one above it."""
    found = []
    for source in sorted((root / app).rglob("*.py")):
        for target in sorted(imported_apps(source) - {app}):
            if LAYER_OF[target] <= LAYER_OF[app]:
                found.append(f"{source.relative_to(root)} -> {target}")
    return found


def test_every_app_is_placed_in_a_layer():
    apps = {path.parent.name for path in ROOT.glob("*/apps.py")}
    assert apps == set(LAYER_OF)


@pytest.mark.parametrize("app", sorted(LAYER_OF))
def test_an_app_imports_only_the_layers_below_it(app):
    assert upward_imports(app) == []


def test_the_rule_catches_an_upward_import(tmp_path):
    """The check itself: a lower app's module that imports a higher app is reported."""
    (tmp_path / "realtime").mkdir()
    (tmp_path / "realtime" / "leak.py").write_text("from workspace.models import Membership\n")
    assert upward_imports("realtime", root=tmp_path) == ["realtime/leak.py -> workspace"]
