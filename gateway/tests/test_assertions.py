"""The forwarded identity: one signature per caller for half the assertion's lifetime."""

from gateway_fakes import FakeClock

from gateway.assertions import IdentityAssertions
from tally_shared.web import ASSERTION_LIFETIME_SECONDS, Caller
from tally_testing import verify_identity

SECRET = "a secret long enough for HS256 signatures"


def test_an_assertion_is_reused_then_renewed_before_it_expires():
    clock = FakeClock()
    assertions = IdentityAssertions(SECRET, clock=clock)
    ada = Caller(1, "ada@example.com")
    first = assertions.for_caller(ada)
    assert verify_identity(first, SECRET) == ada
    clock.now += ASSERTION_LIFETIME_SECONDS / 2 - 1
    assert assertions.for_caller(ada) == first
    clock.now += 2
    renewed = assertions.for_caller(ada)
    assert verify_identity(renewed, SECRET) == ada


def test_each_caller_has_their_own():
    assertions = IdentityAssertions(SECRET, clock=FakeClock())
    ada, bob = Caller(1, "ada@example.com"), Caller(2, "bob@example.com")
    assert verify_identity(assertions.for_caller(bob), SECRET) == bob
    assert verify_identity(assertions.for_caller(ada), SECRET) == ada


def test_the_oldest_callers_are_forgotten_beyond_the_limit():
    assertions = IdentityAssertions(SECRET, max_callers=2, clock=FakeClock())
    for user_id in (1, 2, 3):
        assertions.for_caller(Caller(user_id, f"u{user_id}@example.com"))
    assert len(assertions._signed) == 2 and Caller(1, "u1@example.com") not in assertions._signed
