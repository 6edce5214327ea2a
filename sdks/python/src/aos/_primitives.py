"""The two things the async client does differently from the sync one beyond ``async`` and
``await``: sleeping before a retry, and calling a progress callback (whose result the async client
awaits when it is a coroutine or a future).

``async_client.py`` calls the ``async_`` functions; ``scripts/unasync.py`` renames them to the
plain ones when it generates ``client.py`` from it.
"""

from __future__ import annotations

import asyncio
import time
from typing import Optional

from ._http import ProgressCallback, ProgressEvent


async def async_sleep(seconds: float) -> None:
    await asyncio.sleep(seconds)


def sleep(seconds: float) -> None:
    time.sleep(seconds)


async def async_notify(callback: Optional[ProgressCallback], event: ProgressEvent) -> None:
    if callback is not None:
        result = callback(event)
        if asyncio.iscoroutine(result) or isinstance(result, asyncio.Future):
            await result


def notify(callback: Optional[ProgressCallback], event: ProgressEvent) -> None:
    if callback is not None:
        callback(event)
