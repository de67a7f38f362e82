"""pyHanko's work is asynchronous; Diwan calls it from plain synchronous code.

``asyncio.run`` refuses to start when the calling thread already runs an event loop (an async
server, or Playwright's in the browser tests). The coroutine then runs in a short-lived thread
of its own, so a signature or a validation works the same from anywhere.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


def run(make_coroutine: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run the coroutine ``make_coroutine()`` to completion and return its result."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make_coroutine())
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="signing-async") as pool:
        return pool.submit(lambda: asyncio.run(make_coroutine())).result()
