"""The per-client rate limit: 429 with Retry-After once a client's burst is spent."""

from gateway_fakes import FakeClock, FakeServices, gateway_client

from gateway.ratelimit import RateLimiter
from gateway.settings import GatewaySettings


def test_a_burst_then_the_rate():
    clock = FakeClock()
    limiter = RateLimiter(rate=2, burst=3, clock=clock)
    assert [limiter.retry_after("a") for _ in range(3)] == [None, None, None]
    assert limiter.retry_after("a") == 1
    clock.now += 0.5  # one token back at 2 a second
    assert limiter.retry_after("a") is None
    assert limiter.retry_after("a") == 1


def test_clients_have_buckets_of_their_own():
    limiter = RateLimiter(rate=1, burst=1, clock=FakeClock())
    assert limiter.retry_after("a") is None
    assert limiter.retry_after("a") is not None
    assert limiter.retry_after("b") is None


def test_retry_after_says_how_long_a_slow_rate_takes():
    limiter = RateLimiter(rate=0.1, burst=1, clock=FakeClock())
    limiter.retry_after("a")
    assert limiter.retry_after("a") == 10


def test_the_least_recently_seen_clients_are_forgotten_first():
    clock = FakeClock()
    limiter = RateLimiter(rate=1, burst=1, max_clients=2, clock=clock)
    for client in ("a", "b", "c"):  # "a" is forgotten: it gets a full bucket again
        limiter.retry_after(client)
    assert limiter.retry_after("a") is None
    assert limiter.retry_after("c") is not None


async def test_the_gateway_answers_429_with_retry_after(settings, services: FakeServices, bearer):
    settings = settings.model_copy(update={"rate_limit_per_second": 0.5, "rate_limit_burst": 2})
    async with gateway_client(settings, services.handle) as client:
        answers = [await client.get("/posts", headers=bearer) for _ in range(3)]
        health = await client.get("/healthz")

    assert [answer.status_code for answer in answers] == [200, 200, 429]
    assert answers[2].json() == {"detail": "Too many requests; slow down"}
    assert answers[2].headers["retry-after"] == "2"
    assert len(services.service_requests("posts")) == 2
    assert health.status_code == 200  # probes are never limited


async def test_zero_turns_the_limit_off(settings, services: FakeServices, bearer):
    settings = settings.model_copy(update={"rate_limit_per_second": 0, "rate_limit_burst": 1})
    async with gateway_client(settings, services.handle) as client:
        answers = [await client.get("/posts", headers=bearer) for _ in range(5)]
    assert {answer.status_code for answer in answers} == {200}


def test_the_limit_is_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("GATEWAY_RATE_LIMIT_PER_SECOND", "7.5")
    monkeypatch.setenv("GATEWAY_RATE_LIMIT_BURST", "15")
    settings = GatewaySettings()
    assert (settings.rate_limit_per_second, settings.rate_limit_burst) == (7.5, 15)
