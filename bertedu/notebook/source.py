"""``show_source``: the real source of a bertedu function or class, syntax-highlighted in the chapter.

What the reader sees is the code that runs (:func:`inspect.getsource`), never a copy.
"""

from __future__ import annotations

import html
import inspect
from typing import Any

from bertedu.notebook.display import display_html


# The book's column shows 92 columns of code at 1280 px; library code is formatted to this many.
WRAP_AT = 88
_HANG = 4   # a wrapped line continues 4 columns right of its own indentation, like Python's continuation


def _wrapped_pre(lines_html: list[str], code_lines: list[str], background: str) -> str:
    """A ``<pre>`` whose lines soft-wrap (CSS) with a hanging indent instead of scrolling sideways.

    Each source line is its own block whose wrapped continuation starts ``indent + 4`` columns in
    (``padding-left`` with a negative ``text-indent``), so a long signature still reads as Python; the
    code itself is not changed (copying the listing gives the original lines).
    """
    rows = []
    for markup, text in zip(lines_html, code_lines):
        hang = len(text) - len(text.lstrip(" ")) + _HANG
        rows.append(f'<span style="display: block; padding-left: {hang}ch; text-indent: -{hang}ch">'
                    f'{markup or " "}</span>')
    return (f'<div class="highlight" style="background: {background}"><pre class="bertedu-wrap" '
            f'style="line-height: 125%; white-space: pre-wrap; overflow-wrap: anywhere">'
            + "".join(rows) + "</pre></div>\n")


def source_html(obj: Any) -> str:
    """Return the real source of ``obj`` (a function, class or module) as highlighted HTML.

    Uses :func:`inspect.getsource`, so what the reader sees is the code that runs, never a copy.
    A listing with a line longer than :data:`WRAP_AT` (88) characters soft-wraps in the browser with a
    hanging indent (it would scroll sideways in the book's 92-column text column); the others are
    plain highlighted blocks.  Falls back to an escaped ``<pre>`` block when pygments is not installed.
    """
    try:
        code = inspect.getsource(obj)
    except (TypeError, OSError) as err:
        raise TypeError(f"obj must be a Python function, class or module with source on disk, "
                        f"got {type(obj).__name__} ({err})") from err
    name = getattr(obj, "__qualname__", getattr(obj, "__name__", "source"))
    module = getattr(obj, "__module__", None) or getattr(obj, "__name__", "")
    title = html.escape(f"{module}.{name}" if module != name else name)
    header = f'<div class="bertedu-source-title"><code>{title}</code></div>'
    code_lines = code.expandtabs(4).splitlines()
    wrap = max((len(line) for line in code_lines), default=0) > WRAP_AT
    try:
        from pygments import highlight
        from pygments.formatters import HtmlFormatter
        from pygments.lexers import PythonLexer
    except ImportError:
        if wrap:
            body = _wrapped_pre([html.escape(line) for line in code_lines], code_lines, "transparent")
        else:
            body = f"<pre>{html.escape(code)}</pre>"
        return f'<div class="bertedu-source">{header}{body}</div>'
    if wrap:
        # nowrap=True: just the highlighted spans, one source line per output line (pygments closes
        # every span at the end of its line), which _wrapped_pre puts in blocks of their own.
        formatter = HtmlFormatter(noclasses=True, style="friendly", nowrap=True)
        lines_html = highlight("\n".join(code_lines) + "\n", PythonLexer(), formatter).split("\n")
        body = _wrapped_pre(lines_html, code_lines, formatter.style.background_color)
    else:
        formatter = HtmlFormatter(noclasses=True, style="friendly", nowrap=False)
        body = highlight(code, PythonLexer(), formatter)
    return f'<div class="bertedu-source">{header}{body}</div>'


def show_source(obj: Any) -> None:
    """Display the real, current source of a bertedu function or class, syntax-highlighted.

    >>> from bertedu.notebook import show_source
    >>> show_source(show_source)   # doctest: +SKIP
    """
    display_html(source_html(obj))
