"""The domain layer imports only the standard library and itself."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import strongroom.domain

DOMAIN = Path(strongroom.domain.__file__).parent


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.startswith("strongroom"):
                names.add(".".join(node.module.split(".")[:2]))
            else:
                names.add(node.module.split(".")[0])
    return names


def test_domain_imports_only_stdlib_and_itself() -> None:
    """No SQLAlchemy, FastAPI or any other third-party or upper-layer import in domain/."""
    allowed = set(sys.stdlib_module_names) | {"__future__", "strongroom.domain"}
    offenders = {
        f"{path.name}: {name}"
        for path in DOMAIN.glob("*.py")
        for name in _imports(path)
        if name not in allowed
    }
    assert offenders == set()
