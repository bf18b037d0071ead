"""The README's library example runs as written."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).parents[1] / "README.md"


def test_library_example_runs(tmp_path: Path) -> None:
    """The five-minute example executes and leaves books that verify."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)
    example = next(block for block in blocks if "Ledger.open(" in block)
    code = example.replace("sqlite:///books.db", f"sqlite:///{tmp_path / 'books.db'}")
    namespace: dict[str, object] = {}
    exec(compile(code, "README.md", "exec"), namespace)
    ledger = namespace["ledger"]
    assert ledger.verify().ok  # type: ignore[attr-defined]
    assert ledger.get_account("fees").balance.posted == 0  # type: ignore[attr-defined]
    ledger.close()  # type: ignore[attr-defined]
