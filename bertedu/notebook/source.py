"""``show_source``: the real source of a bertedu function or class, syntax-highlighted in the chapter.

What the reader sees is the code that runs (:func:`inspect.getsource`), never a copy.
"""

from __future__ import annotations

import html
import inspect
from typing import Any

from bertedu.notebook.display import display_html


def source_html(obj: Any) -> str:
    """Return the real source of ``obj`` (a function, class or module) as highlighted HTML.

    Uses :func:`inspect.getsource`, so what the reader sees is the code that runs, never a copy.
    Falls back to an escaped ``<pre>`` block when pygments is not installed.
    """
    try:
        code = inspect.getsource(obj)
    except (TypeError, OSError) as err:
        raise TypeError(f"obj must be a Python function, class or module with source on disk, "
                        f"got {type(obj).__name__} ({err})") from err
    name = getattr(obj, "__qualname__", getattr(obj, "__name__", "source"))
    module = getattr(obj, "__module__", None) or getattr(obj, "__name__", "")
    header = f'<div class="bertedu-source-title"><code>{html.escape(f"{module}.{name}" if module != name else name)}</code></div>'
    try:
        from pygments import highlight
        from pygments.formatters import HtmlFormatter
        from pygments.lexers import PythonLexer

        formatter = HtmlFormatter(noclasses=True, style="friendly", nowrap=False)
        body = highlight(code, PythonLexer(), formatter)
    except ImportError:
        body = f"<pre>{html.escape(code)}</pre>"
    return f'<div class="bertedu-source">{header}{body}</div>'


def show_source(obj: Any) -> None:
    """Display the real, current source of a bertedu function or class, syntax-highlighted.

    >>> from bertedu.notebook import show_source
    >>> show_source(show_source)   # doctest: +SKIP
    """
    display_html(source_html(obj))
