"""nbgrader's cell runner, without nbclient's mirror of ipywidgets' Output widgets (imports nbgrader).

Every chapter has an ``interact`` widget. nbclient mirrors each Output widget by *sending* comm messages on
the shell channel while it waits for the cell's reply on that same channel; now and then the reply is then
not seen until the cell's timeout (nbclient issue #312: a grading run stalled ten minutes on chapter 1's
widget cell, the kernel idle). For grading, the widget's captured output does not matter, so the mirror is
switched off: the widget still runs in the kernel, and its state is still recorded.
"""

from __future__ import annotations

from typing import Any

from nbgrader.preprocessors import Execute


class GradingExecute(Execute):
    """:class:`nbgrader.preprocessors.Execute` that opens no Output-widget mirror (see the module doc)."""

    def on_comm_open_jupyter_widget(self, msg: dict[str, Any]) -> None:
        return None


def autograde_preprocessors() -> list:
    """nbgrader's autograde pipeline with :class:`GradingExecute` in place of ``Execute``."""
    from nbgrader.converters.autograde import Autograde

    return [GradingExecute if p is Execute else p for p in Autograde.class_traits()["autograde_preprocessors"].default()]
