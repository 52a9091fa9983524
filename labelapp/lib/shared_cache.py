"""The web processes' shared cache: Django's Redis cache that degrades to "no cache" while Redis is away.

Everything cached but the login counts is derived data (labeling counts, the label queue's stored-order
lookup): a read that cannot reach Redis is a miss (the caller reads the database), a write or a delete
that cannot reach it is skipped, and the request still succeeds, as it did with a per-process
local-memory cache. Deletes are the invalidations that keep other processes honest: a skipped one can
leave a stale value for at most its timeout, and the values are only ever cached briefly (seconds) or
are immutable (a built order).

``incr`` is not softened: the login throttle counts with ``add`` + ``incr``, and while Redis is down
it must refuse to check passwords (fail closed): the Redis error becomes the app's clear 503
(:mod:`labelapp.lib.unavailable`).
"""

from __future__ import annotations

import logging
from functools import wraps

from django.core.cache.backends.redis import RedisCache
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)
UNREACHABLE = (RedisConnectionError, RedisTimeoutError)


def _softened(method, fallback):
    @wraps(method)
    def call(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except UNREACHABLE as exc:
            logger.warning("cache unreachable, %s skipped: %s", method.__name__, exc)
            return fallback(*args, **kwargs)

    return call


class SharedRedisCache(RedisCache):
    """:class:`RedisCache` whose reads miss and whose writes are skipped while Redis is unreachable."""

    get = _softened(RedisCache.get, lambda key, default=None, version=None: default)
    get_many = _softened(RedisCache.get_many, lambda keys, version=None: {})
    has_key = _softened(RedisCache.has_key, lambda key, version=None: False)
    add = _softened(RedisCache.add, lambda *args, **kwargs: False)
    set = _softened(RedisCache.set, lambda *args, **kwargs: None)
    set_many = _softened(RedisCache.set_many, lambda data, *args, **kwargs: list(data))
    touch = _softened(RedisCache.touch, lambda *args, **kwargs: False)
    delete = _softened(RedisCache.delete, lambda *args, **kwargs: False)
    delete_many = _softened(RedisCache.delete_many, lambda *args, **kwargs: None)
