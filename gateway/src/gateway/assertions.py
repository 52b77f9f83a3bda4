"""The identity the gateway forwards, signed once per caller and reused for half its lifetime.

Signing an assertion per request would cost more than everything else the
gateway does for a token it has already verified.
"""

import time
from collections.abc import Callable

from tally_shared.web import ASSERTION_LIFETIME_SECONDS, Caller, sign_identity


class IdentityAssertions:
    def __init__(self, secret: str, *, max_callers: int = 100_000, clock: Callable[[], float] = time.monotonic) -> None:
        self._secret = secret
        self._max_callers = max_callers
        self._clock = clock
        self._signed: dict[Caller, tuple[str, float]] = {}

    def for_caller(self, caller: Caller) -> str:
        now = self._clock()
        cached = self._signed.get(caller)
        if cached is not None and now - cached[1] < ASSERTION_LIFETIME_SECONDS / 2:
            return cached[0]
        if len(self._signed) >= self._max_callers:
            self._signed.pop(next(iter(self._signed)))  # the oldest
        assertion = sign_identity(caller, self._secret)
        self._signed[caller] = (assertion, now)
        return assertion
