"""What every notebook helper shares: showing HTML, content-derived ids, and checking text arguments.

Every helper produces *deterministic* HTML (no random ids, no dates) so that the committed notebooks can
be checked cell by cell with ``pytest --nbval`` and the built book looks the same on every build.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any


def display_html(markup: str) -> None:
    """Show HTML in a notebook; print it when IPython is not available (plain scripts)."""
    try:
        from IPython.display import HTML, display
    except ImportError:  # pragma: no cover - IPython ships with every Jupyter install
        print(markup)
        return
    display(HTML(markup))


def stable_id(prefix: str, *parts: Any) -> str:
    """A short id derived from the content, so equal inputs give equal HTML on every run."""
    digest = hashlib.sha1(json.dumps(parts, ensure_ascii=False, sort_keys=True, default=str).encode("utf-8"))
    return f"{prefix}-{digest.hexdigest()[:10]}"


def check_text(value: Any, where: str) -> None:
    """Raise ValueError unless ``value`` is a non-empty string (``where`` names it)."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{where} must be a non-empty string, got {value!r}")
