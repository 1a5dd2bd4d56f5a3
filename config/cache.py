"""The cache in scale mode: Django's Redis cache, minus its one habit that hurts Parlor.

`RedisCache.clear()` runs FLUSHDB, which empties the whole Redis database. The channel layer
lives in that database too (its groups and the messages waiting on their way to sockets), and
so may another site sharing the server under another REDIS_PREFIX. Here `clear()` deletes only
this cache's own keys, the ones under its KEY_PREFIX.
"""

from __future__ import annotations

import re

from django.core.cache.backends.redis import RedisCache

_GLOB_SPECIAL = re.compile(r"([\\*?\[\]])")
_DELETE_BATCH = 500


class PrefixedRedisCache(RedisCache):
    def clear(self) -> None:
        client = self._cache.get_client(None, write=True)
        # Keys are "<KEY_PREFIX>:<version>:<key>" (Django's default key function).
        pattern = _GLOB_SPECIAL.sub(r"\\\1", self.key_prefix) + ":*"
        batch: list[bytes] = []
        for key in client.scan_iter(match=pattern, count=_DELETE_BATCH):
            batch.append(key)
            if len(batch) == _DELETE_BATCH:
                client.unlink(*batch)
                batch.clear()
        if batch:
            client.unlink(*batch)
