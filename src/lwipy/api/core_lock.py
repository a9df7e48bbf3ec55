"""``CONFIG_LWIP_CHECK_THREAD_SAFETY``: lwIP's ``LWIP_ASSERT_CORE_LOCKED()`` for lwipy.

lwIP's core functions begin with ``LWIP_ASSERT_CORE_LOCKED()``; ESP-IDF's ``sys_check_core_locking`` makes it fail
when the caller is not the tcpip thread (a call before the thread exists is allowed).  In lwipy the core's entry
points call ``stack.assert_core()``: a no-op by default, which :func:`install_core_check` replaces, for one stack,
with :func:`check_core_locking` bound to the loop that owns it.  :class:`~lwipy.api.loop.StackLoop` installs it
when ``Config.check_thread_safety`` is on.

The check passes on the core thread, and on any thread while no loop runs the stack (setting a stack up before
``start()``, or after ``stop()``); otherwise it raises :class:`~lwipy.errors.ThreadSafetyError`.
"""

from __future__ import annotations

import functools
import threading
from typing import TYPE_CHECKING, Any

from ..core.hooks import no_core_check
from ..errors import ThreadSafetyError

if TYPE_CHECKING:
    from ..core.stack import Stack
    from .loop import StackLoop

__all__ = ["check_core_locking", "install_core_check", "uninstall_core_check", "HOOK"]

#: the Stack attribute the core's entry points call
HOOK = "assert_core"


def check_core_locking(loop: "StackLoop", what: str = "") -> None:
    """Raise :class:`ThreadSafetyError` unless the caller is ``loop``'s core thread or no loop runs the stack."""
    owner = loop.core_thread_ident
    if owner is not None and owner != threading.get_ident():
        where = f" ({what})" if what else ""
        raise ThreadSafetyError(
            f"{loop.stack.name}: a core function{where} ran on thread {threading.current_thread().name!r}, not on "
            f"the core thread; post it with StackLoop.call() or call_soon() (CONFIG_LWIP_CHECK_THREAD_SAFETY)")


def install_core_check(stack: "Stack", loop: "StackLoop") -> None:
    """Make ``stack.assert_core()`` check that it runs on ``loop``'s core thread."""
    check: Any = functools.partial(check_core_locking, loop)
    setattr(stack, HOOK, check)


def uninstall_core_check(stack: "Stack") -> None:
    """Make ``stack.assert_core()`` a no-op again."""
    setattr(stack, HOOK, no_core_check)  # (the stack's own: its per-packet entry points skip the call)
