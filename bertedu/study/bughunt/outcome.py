"""What a bug-hunt check returns: passed or not, and why, in one line a reader can act on."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Outcome:
    """The verdict of one check on one implementation."""

    passed: bool
    detail: str

    def __str__(self) -> str:
        return ("PASS  " if self.passed else "FAIL  ") + self.detail


def guarded(check: Callable[..., Outcome]) -> Callable[..., Outcome]:
    """Turn an exception raised *by the implementation under test* into a failed check.

    A broken implementation may crash instead of returning garbage (a float where an id was expected, a
    shape error); that is a failure of the implementation, reported like any other, not of the check.
    """
    def run(impl: Callable, *args: object, **kwargs: object) -> Outcome:
        try:
            return check(impl, *args, **kwargs)
        except Exception as error:  # noqa: BLE001 - any crash of the implementation is a verdict
            return Outcome(False, f"{getattr(impl, '__name__', impl)!s} crashed: "
                                  f"{type(error).__name__}: {error}")
    return functools.wraps(check)(run)   # keeps the check's name, module and docstring
