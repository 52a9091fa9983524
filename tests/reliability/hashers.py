"""A real password hasher that also counts its checks, and takes as long as a real one would."""

from __future__ import annotations

import threading
import time

from django.contrib.auth.hashers import MD5PasswordHasher

CHECK_SECONDS = 0.2  # about what the default PBKDF2 costs here; long enough for parallel guesses to overlap


class CountingHasher(MD5PasswordHasher):
    """MD5 (the tests' fast hasher) whose ``verify`` counts its calls and sleeps like a slow hash."""

    algorithm = "md5"
    checks = 0
    _lock = threading.Lock()

    def verify(self, password: str, encoded: str) -> bool:
        with CountingHasher._lock:
            CountingHasher.checks += 1
        time.sleep(CHECK_SECONDS)
        return super().verify(password, encoded)
