"""bertviz's attention views with deterministic ids and scripts that load offline in the built book."""

from __future__ import annotations

import re
from typing import Any, Sequence

from bertedu.notebook.display import display_html, stable_id


_CDN = {
    "require": "https://cdnjs.cloudflare.com/ajax/libs/require.js/2.3.6/require.min.js",
    "d3": "https://cdnjs.cloudflare.com/ajax/libs/d3/5.7.0/d3.min",
    "jquery": "https://cdnjs.cloudflare.com/ajax/libs/jquery/2.0.0/jquery.min",
}
# Files inside the vendored folder (see tools/vendor_js.py); window.BERTEDU_VENDOR is the folder's URL,
# set by a small script the built book loads on every page when the files were vendored.
_LOCAL = {"require": "require.js", "d3": "d3.min", "jquery": "jquery.min"}


def bertviz_html(markup: str, view: str, tokens: Sequence[str]) -> str:
    """Make bertviz's returned HTML deterministic and able to load its scripts offline.

    * the random ``bertviz-<uuid>`` id becomes ``bertviz-<hash of view and tokens>``;
    * require.js, d3 and jquery load from the book's vendored copies when the page provides
      ``window.BERTEDU_VENDOR`` (the built book, page-relative) and from the public CDN otherwise
      (Jupyter, Colab).
    """
    vis_id = stable_id(f"bertviz-{view}", list(tokens))
    markup = re.sub(r"bertviz-[0-9a-f]{32}", vis_id, markup)
    markup = markup.replace(f'<script src="{_CDN["require"]}"></script>', "")
    for name in ("d3", "jquery"):
        markup = markup.replace(f"'{_CDN[name]}'",
                                f"(window.BERTEDU_VENDOR ? window.BERTEDU_VENDOR + '{_LOCAL[name]}' : '{_CDN[name]}')")
    # Run bertviz's script only once require.js is there: load it (local or CDN) if the page lacks it.
    start = markup.index('<script type="text/javascript">') + len('<script type="text/javascript">')
    end = markup.rindex("</script>")
    body = markup[start:end]
    loader = (
        "\n(function () {\n  function bertedu_run() {\n" + body + "\n  }\n"
        "  if (typeof require !== 'undefined' && typeof require.config === 'function') { bertedu_run(); return; }\n"
        "  var s = document.createElement('script');\n"
        f"  s.src = window.BERTEDU_VENDOR ? window.BERTEDU_VENDOR + '{_LOCAL['require']}' : '{_CDN['require']}';\n"
        "  s.onload = bertedu_run;\n  document.head.appendChild(s);\n})();\n"
    )
    return markup[:start] + loader + markup[end:]


# bertviz's own JavaScript, rewritten so the book counts layers and heads from 1 (option *values* stay
# 0-based: bertviz indexes its arrays with them) and the model view fits the text column.
_HEAD_LABELS = [(".val(layer).text(layer)", ".val(layer).text(layer + 1)")]
_MODEL_LABELS = [
    (".text(config.heads[i])", ".text(config.heads[i] + 1)"),
    (".text(config.layers[i])", ".text(config.layers[i] + 1)"),
    ("'Layer ' + config.layers[layerIndex] + \", Head \" + config.heads[headIndex]",
     "'Layer ' + (config.layers[layerIndex] + 1) + \", Head \" + (config.heads[headIndex] + 1)"),
]
_MODEL_WIDTH = "const DIV_WIDTH = 970;"


def _rewrite(markup: str, pairs: list[tuple[str, str]], view: str) -> str:
    """Apply exact ``(old, new)`` replacements; fail loudly if bertviz's script changed under us."""
    for old, new in pairs:
        if old not in markup:
            raise RuntimeError(f"bertviz {view} view: expected {old!r} in its script; the installed bertviz "
                               f"differs from 1.4.1 (pip install --no-deps bertviz==1.4.1)")
        markup = markup.replace(old, new)
    return markup


def model_view_width_js(width: int, root_id: str) -> str:
    """The model view's width: ``width`` px, or the root element's width when that is narrower (a phone)."""
    return (f"const DIV_WIDTH = Math.min({width}, (document.getElementById({root_id!r}) || {{}}).clientWidth "
            f"|| {width});")


def _bertviz(view: str, attention: Any, tokens: Sequence[str], **kwargs: Any) -> None:
    display_html(_bertviz_markup(view, attention, tokens, **kwargs))


def _bertviz_markup(view: str, attention: Any, tokens: Sequence[str], width: int = 740,
                    **kwargs: Any) -> str:
    try:
        from bertviz import head_view, model_view
    except ImportError as err:  # pragma: no cover
        raise ImportError("bertviz is not installed: pip install --no-deps bertviz==1.4.1") from err
    if not isinstance(tokens, (list, tuple)) or not all(isinstance(t, str) for t in tokens):
        raise TypeError("tokens must be a list of strings (e.g. tokenizer.convert_ids_to_tokens(ids))")
    if isinstance(width, bool) or not isinstance(width, int) or not 200 <= width <= 970:
        raise ValueError(f"width must be an int of pixels in 200..970 (the column is ~740), got {width!r}")
    fn = head_view if view == "head" else model_view
    markup = bertviz_html(fn(attention, list(tokens), html_action="return", **kwargs).data, view, tokens)
    if view == "head":
        return _rewrite(markup, _HEAD_LABELS, view)
    root_id = stable_id(f"bertviz-{view}", list(tokens))       # the id bertviz_html gave the view
    markup = _rewrite(markup, _MODEL_LABELS, view)
    return _rewrite(markup, [(_MODEL_WIDTH, model_view_width_js(width, root_id))], view)


def bertviz_head_view_html(attention: Any, tokens: Sequence[str], *, layer: int = 0,
                           heads: Sequence[int] | None = (0,), **kwargs: Any) -> str:
    """The HTML that :func:`bertviz_head_view` displays (for tests and for saving)."""
    if isinstance(layer, bool) or not isinstance(layer, int) or layer < 0:
        raise ValueError(f"layer must be a 0-based int (index 0 is shown as layer 1), got {layer!r}")
    if heads is not None:
        heads = list(heads)
        if not heads or not all(isinstance(h, int) and not isinstance(h, bool) and h >= 0 for h in heads):
            raise ValueError(f"heads must be a non-empty list of 0-based ints (or None for all), got {heads!r}")
    return _bertviz_markup("head", attention, tokens, layer=layer, heads=heads, **kwargs)


def bertviz_model_view_html(attention: Any, tokens: Sequence[str], *, width: int = 740,
                            display_mode: str = "light", **kwargs: Any) -> str:
    """The HTML that :func:`bertviz_model_view` displays (for tests and for saving)."""
    if display_mode not in ("light", "dark"):
        raise ValueError(f"display_mode must be 'light' or 'dark', got {display_mode!r}")
    return _bertviz_markup("model", attention, tokens, width=width, display_mode=display_mode, **kwargs)


def bertviz_head_view(attention: Any, tokens: Sequence[str], *, layer: int = 0,
                      heads: Sequence[int] | None = (0,), **kwargs: Any) -> None:
    """Display bertviz's head view of one layer, opening on one head, with deterministic offline HTML.

    ``attention`` is a tuple of L tensors of shape (1, A, T, T) (``BertModel(...,
    output_attentions=True).attentions``, paper §3.1 / Vaswani et al. 2017 §3.2); ``tokens`` has T strings.
    ``layer`` (0-based, default 0) and ``heads`` (0-based, default ``[0]``; ``None`` = all A heads at once)
    choose what the view opens on: one head is readable, twelve overlaid are a tangle, and the reader adds
    heads by clicking the colour squares.  The layer menu counts from 1 like the book ("layer 1" = index 0).
    Other keyword arguments go to :func:`bertviz.head_view`.
    The view needs JavaScript; tag its cell ``nbval-ignore-output`` and pair it with a static figure.
    """
    display_html(bertviz_head_view_html(attention, tokens, layer=layer, heads=heads, **kwargs))


def bertviz_model_view(attention: Any, tokens: Sequence[str], *, width: int = 740,
                       display_mode: str = "light", **kwargs: Any) -> None:
    """Display bertviz's model view (a grid of layers x heads, labelled from 1) that fits the text column.

    ``width`` (px, default 740) caps the grid (bertviz draws 970 px, wider than the book's ~750 px column);
    on a narrower screen it takes the width of its element.  ``display_mode`` defaults to ``"light"`` (the
    book's theme).  Pass ``include_layers=[...]`` to keep a deep model's grid short.  Other keyword
    arguments go to :func:`bertviz.model_view`.
    """
    display_html(bertviz_model_view_html(attention, tokens, width=width, display_mode=display_mode, **kwargs))
