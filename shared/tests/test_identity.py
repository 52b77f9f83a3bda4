"""The identity assertion between the gateway and the services, and its verification cache."""

import time

import jwt
import pytest

from tally_shared.web import Caller, IdentityError, VerifiedIdentities, sign_identity

SECRET = "a secret long enough for HS256 signatures"


def test_a_verified_assertion_is_remembered(monkeypatch):
    identities = VerifiedIdentities(SECRET)
    assertion = sign_identity(Caller(3, "c@example.com"), SECRET)
    assert identities.caller(assertion) == Caller(3, "c@example.com")

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded again")

    monkeypatch.setattr(jwt, "decode", no_decoding)
    assert identities.caller(assertion) == Caller(3, "c@example.com")


def test_an_expired_or_forged_assertion_is_refused(monkeypatch):
    identities = VerifiedIdentities(SECRET)
    assertion = sign_identity(Caller(3, "c@example.com"), SECRET)
    identities.caller(assertion)
    decoded = []

    def expired(*args, **kwargs):
        decoded.append(args)
        raise jwt.ExpiredSignatureError("Signature has expired")

    real_time = time.time()
    monkeypatch.setattr(jwt, "decode", expired)
    monkeypatch.setattr(time, "time", lambda: real_time + 3600)
    with pytest.raises(IdentityError):
        identities.caller(assertion)  # past its exp: not from memory, checked again
    assert len(decoded) == 1
    monkeypatch.undo()
    with pytest.raises(IdentityError):
        identities.caller(sign_identity(Caller(3, "c@example.com"), "another secret, also long enough"))
    with pytest.raises(IdentityError):
        identities.caller("not a token")
