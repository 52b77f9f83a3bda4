"""A token bucket per client, so that one client cannot take the whole stack for itself.

Each client (by its address as the gateway sees it) may make `rate` requests a
second on average, and `burst` at once. The buckets live in this process:
with several gateways each one limits on its own, so a client gets up to
N times the rate through N gateways; a shared limit belongs in the load
balancer in front of them. The least recently seen clients are forgotten
first when there are more than `max_clients`.
"""

import math
import time
from collections import OrderedDict
from collections.abc import Callable


class RateLimiter:
    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        max_clients: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._rate = rate
        self._burst = burst
        self._max_clients = max_clients
        self._clock = clock
        # client -> (tokens left, when they were counted)
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def retry_after(self, client: str) -> int | None:
        """None if `client` may make a request now (and counts it); else whole seconds to wait."""
        now = self._clock()
        tokens, counted_at = self._buckets.pop(client, (float(self._burst), now))
        tokens = min(float(self._burst), tokens + (now - counted_at) * self._rate)
        allowed = tokens >= 1
        if allowed:
            tokens -= 1
        self._buckets[client] = (tokens, now)
        if len(self._buckets) > self._max_clients:
            self._buckets.popitem(last=False)
        return None if allowed else max(1, math.ceil((1 - tokens) / self._rate))
