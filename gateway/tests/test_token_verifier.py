"""The token verifier on its own, with a fake JWKS fetcher and clock."""

import time

import jwt as pyjwt
import pytest
from gateway_fakes import AUDIENCE, ISSUER, FakeClock, SigningKey

from gateway.jwt import InvalidTokenError, TokenVerifier, parse_jwks
from tally_shared.web import Caller


class FakeJwks:
    def __init__(self, *keys: SigningKey) -> None:
        self.keys = list(keys)
        self.fetches = 0
        self.failing = False

    async def __call__(self) -> dict:
        self.fetches += 1
        if self.failing:
            raise ConnectionError("auth is down")
        return {"keys": [key.jwk for key in self.keys]}


def _verifier(jwks: FakeJwks, clock: FakeClock) -> TokenVerifier:
    return TokenVerifier(jwks, issuer=ISSUER, audience=AUDIENCE, leeway=10, refresh_min_interval=10, clock=clock)


async def test_keys_are_cached_by_kid():
    key = SigningKey(kid="a")
    jwks, clock = FakeJwks(key), FakeClock()
    verifier = _verifier(jwks, clock)

    for _ in range(5):
        assert await verifier.verify(key.token(user_id=3)) == Caller(3, "ada@example.com")

    assert jwks.fetches == 1


async def test_a_new_kid_is_fetched_once_the_interval_has_passed():
    old, new = SigningKey(kid="old"), SigningKey(kid="new")
    jwks, clock = FakeJwks(old), FakeClock()
    verifier = _verifier(jwks, clock)
    await verifier.verify(old.token())

    jwks.keys = [old, new]
    clock.now += 3
    with pytest.raises(InvalidTokenError):
        await verifier.verify(new.token())
    clock.now += 10

    assert (await verifier.verify(new.token(user_id=5))).user_id == 5
    assert jwks.fetches == 2


async def test_unknown_kids_refetch_at_most_once_per_interval():
    key = SigningKey(kid="a")
    jwks, clock = FakeJwks(key), FakeClock()
    verifier = _verifier(jwks, clock)

    for number in range(50):
        clock.now += 0.1
        with pytest.raises(InvalidTokenError):
            await verifier.verify(SigningKey(kid=f"x{number}").token())

    assert jwks.fetches == 1


async def test_a_failed_fetch_keeps_the_cached_keys():
    key = SigningKey(kid="a")
    jwks, clock = FakeJwks(key), FakeClock()
    verifier = _verifier(jwks, clock)
    await verifier.verify(key.token())

    jwks.failing = True
    clock.now += 60
    with pytest.raises(InvalidTokenError):
        await verifier.verify(SigningKey(kid="b").token())

    assert (await verifier.verify(key.token())).user_id == 7


async def test_a_key_removed_from_the_jwks_stops_working_after_a_refresh():
    old, new = SigningKey(kid="old"), SigningKey(kid="new")
    jwks, clock = FakeJwks(old), FakeClock()
    verifier = _verifier(jwks, clock)
    await verifier.verify(old.token())

    jwks.keys = [new]
    clock.now += 60
    await verifier.verify(new.token())

    with pytest.raises(InvalidTokenError):
        await verifier.verify(old.token())


def test_a_jwks_keeps_only_usable_signing_keys():
    key = SigningKey(kid="ok")
    jwks = {
        "keys": [
            key.jwk,
            {**SigningKey(kid="enc").jwk, "use": "enc"},
            {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"},
            {"kty": "OKP", "crv": "Ed25519", "x": "not base64!", "kid": "broken"},
            {"kty": "OKP"},
            "junk",
        ]
    }

    assert list(parse_jwks(jwks)) == ["ok"]
    assert parse_jwks({"keys": "nope"}) == {}
    assert parse_jwks({}) == {}


async def test_a_verified_token_is_remembered_until_it_expires(monkeypatch):
    key = SigningKey(kid="a")
    verifier = _verifier(FakeJwks(key), FakeClock())
    now = time.time()
    token = key.token(exp=int(now) + 60)
    assert (await verifier.verify(token)).user_id == 7

    decodes = []
    monkeypatch.setattr(pyjwt, "decode", lambda *args, **kwargs: decodes.append(args))
    assert (await verifier.verify(token)).user_id == 7  # from memory: no signature checked
    assert decodes == []

    def expired(*args, **kwargs):
        decodes.append(args)
        raise pyjwt.ExpiredSignatureError("Signature has expired")

    monkeypatch.setattr(pyjwt, "decode", expired)
    monkeypatch.setattr(time, "time", lambda: now + 60 + 11)  # past exp and the 10 s leeway
    with pytest.raises(InvalidTokenError):
        await verifier.verify(token)  # not from memory: checked again, and refused
    assert len(decodes) == 1
