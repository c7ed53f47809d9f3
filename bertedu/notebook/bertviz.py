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


def _bertviz(view: str, attention: Any, tokens: Sequence[str], **kwargs: Any) -> None:
    try:
        from bertviz import head_view, model_view
    except ImportError as err:  # pragma: no cover
        raise ImportError("bertviz is not installed: pip install --no-deps bertviz==1.4.1") from err
    if not isinstance(tokens, (list, tuple)) or not all(isinstance(t, str) for t in tokens):
        raise TypeError("tokens must be a list of strings (e.g. tokenizer.convert_ids_to_tokens(ids))")
    fn = head_view if view == "head" else model_view
    out = fn(attention, list(tokens), html_action="return", **kwargs)
    display_html(bertviz_html(out.data, view, tokens))


def bertviz_head_view(attention: Any, tokens: Sequence[str], **kwargs: Any) -> None:
    """Display bertviz's head view (one layer, all heads) with deterministic, offline-capable HTML.

    ``attention`` is a tuple of L tensors of shape (1, A, T, T) (``BertModel(...,
    output_attentions=True).attentions``, paper §3.1 / Vaswani et al. 2017 §3.2); ``tokens`` has T strings.
    Extra keyword arguments go to :func:`bertviz.head_view` (e.g. ``layer=5``, ``heads=[0, 3]``).
    The view needs JavaScript; tag its cell ``nbval-ignore-output`` and pair it with a static figure.
    """
    _bertviz("head", attention, tokens, **kwargs)


def bertviz_model_view(attention: Any, tokens: Sequence[str], **kwargs: Any) -> None:
    """Display bertviz's model view (a grid of every layer x head) like :func:`bertviz_head_view`."""
    _bertviz("model", attention, tokens, **kwargs)
