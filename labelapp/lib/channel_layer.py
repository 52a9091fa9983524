"""channels_redis's layer, made to ride out a slow or briefly unreachable Redis instead of crashing consumers.

Two changes to ``channels_redis.core.RedisChannelLayer``:

* **The blocking pop returns before the socket read times out.** A consumer waits for its next message
  with ``BZPOPMIN channel 5`` (``brpop_timeout``), and redis-py's default socket timeout is also 5 s: under
  load the reply arrives a little after 5 s, the read raises ``redis.exceptions.TimeoutError: Timeout
  reading from …/redis.sock`` and the consumer dies with a traceback (the browser reconnects). Here every
  host gets a ``socket_timeout`` (``SOCKET_TIMEOUT`` unless the host sets one) and the blocking pop waits at
  most half of it.
* **Timeouts and lost connections are retried with backoff.** ``receive`` (a consumer's whole life) retries
  for as long as it is awaited; ``send``, ``group_send``, ``group_add`` and ``group_discard`` retry for
  ``retry_seconds`` and then raise. Nothing is lost by a retried receive: channels_redis keeps a message in
  a backup queue until it is processed and puts it back on the next pop. A retried ``group_send`` whose
  first try did reach Redis delivers an event twice; the app's events are idempotent hints (pages re-fetch).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from channels_redis.core import RedisChannelLayer
from channels_redis.utils import decode_hosts
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)
RETRIED = (RedisTimeoutError, RedisConnectionError)
SOCKET_TIMEOUT = 10.0  # seconds a read from Redis may take; the blocking pop waits at most half of it
FIRST_DELAY, MAX_DELAY = 0.1, 5.0  # backoff between retries, doubling
T = TypeVar("T")


class ResilientRedisChannelLayer(RedisChannelLayer):
    """``RedisChannelLayer`` whose reads outlast its blocking pops and whose calls retry Redis timeouts."""

    def __init__(self, hosts: Any = None, *, retry_seconds: float = 30.0, **options: Any) -> None:
        hosts = [{"socket_timeout": SOCKET_TIMEOUT, **host} for host in decode_hosts(hosts)]
        super().__init__(hosts=hosts, **options)
        self.retry_seconds = retry_seconds
        shortest = min(float(host["socket_timeout"]) for host in hosts)
        self.brpop_timeout: int = max(1, min(int(self.brpop_timeout), int(shortest / 2)))

    async def _retry(self, name: str, call: Callable[[], Awaitable[T]], *, forever: bool = False) -> T:
        loop = asyncio.get_running_loop()
        deadline, delay = loop.time() + self.retry_seconds, FIRST_DELAY
        while True:
            try:
                return await call()
            except RETRIED as error:
                task = asyncio.current_task()
                if task is not None and task.cancelling():  # redis-py turned our cancellation into this error
                    raise
                if not forever and loop.time() + delay > deadline:
                    raise
                logger.warning("channel layer %s: %s; retrying in %.1f s", name, error, delay)
                await asyncio.sleep(delay)
                delay = min(MAX_DELAY, delay * 2)

    async def receive(self, channel: str) -> dict:
        return await self._retry("receive", lambda: super(ResilientRedisChannelLayer, self).receive(channel), forever=True)

    async def send(self, channel: str, message: dict) -> None:
        await self._retry("send", lambda: super(ResilientRedisChannelLayer, self).send(channel, message))

    async def group_send(self, group: str, message: dict) -> None:
        await self._retry("group_send", lambda: super(ResilientRedisChannelLayer, self).group_send(group, message))

    async def group_add(self, group: str, channel: str) -> None:
        await self._retry("group_add", lambda: super(ResilientRedisChannelLayer, self).group_add(group, channel))

    async def group_discard(self, group: str, channel: str) -> None:
        await self._retry("group_discard", lambda: super(ResilientRedisChannelLayer, self).group_discard(group, channel))
