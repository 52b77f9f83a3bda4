"""Who may pass the gateway, and what the services learn about the caller."""

import asyncio
import base64
import hashlib
import hmac
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from gateway_fakes import SECRET, FakeServices, SigningKey, gateway_client

from tally_shared.web import CLIENT_ADDRESS_HEADER, IDENTITY_HEADER, Caller, sign_identity
from tally_testing import verify_identity


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/users", {"email": "ada@example.com", "password": "password123"}),
        ("POST", "/users/", {"email": "ada@example.com", "password": "password123"}),
        ("POST", "/login", None),
        ("GET", "/.well-known/jwks.json", None),
    ],
)
async def test_public_routes_need_no_token(client, services: FakeServices, method, path, body):
    response = await client.request(method, path, json=body)

    assert response.status_code == 200
    assert services.requests[-1].url.path == path.rstrip("/")
    assert IDENTITY_HEADER not in services.requests[-1].headers


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/posts"),
        ("GET", "/users/me"),
        ("DELETE", "/users/me"),
        ("GET", "/users"),
        ("POST", "/vote"),
        ("PUT", "/posts/1"),
    ],
)
async def test_protected_routes_without_a_token_are_401(client, services: FakeServices, method, path):
    response = await client.request(method, path)

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json() == {"detail": "Could not validate credentials"}
    assert services.service_requests("posts") == services.service_requests("votes") == []


def _bad_tokens(key: SigningKey) -> dict[str, str]:
    now = int(time.time())
    valid = key.token()
    header, payload, signature = valid.split(".")
    claims = jwt.decode(valid, options={"verify_signature": False})
    public_pem = key.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return {
        "garbage": "not-a-token",
        "empty segments": "..",
        "alg none": f"{_b64({'alg': 'none', 'typ': 'JWT', 'kid': key.kid})}.{payload}.",
        "tampered payload": f"{header}.{_b64({**claims, 'sub': '1', 'user_id': 1})}.{signature}",
        "other key same kid": SigningKey(kid=key.kid).token(),
        "hs256 keyed with the public key": _hs256(claims, public_pem, key.kid),
        "wrong audience": key.token(aud="someone-else"),
        "wrong issuer": key.token(iss="evil-issuer"),
        "expired": key.token(iat=now - 3600, exp=now - 60),
        "unknown kid": SigningKey(kid="nobody-knows").token(),
        "no exp": key.token(exp=None),
        "no iat": key.token(iat=None),
        "no sub": key.token(sub=None),
        "sub not a user id": key.token(sub="admin"),
        "not yet valid": key.token(iat=now + 3600, exp=now + 7200, nbf=now + 3600),
    }


def _hs256(claims: dict, secret: bytes, kid: str) -> str:
    # PyJWT refuses to HMAC with a PEM key, as it should; forge the token by hand, as an attacker would.
    signing_input = f"{_b64({'alg': 'HS256', 'typ': 'JWT', 'kid': kid})}.{_b64(claims)}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"


@pytest.mark.parametrize(
    "case",
    [
        "garbage",
        "empty segments",
        "alg none",
        "tampered payload",
        "other key same kid",
        "hs256 keyed with the public key",
        "wrong audience",
        "wrong issuer",
        "expired",
        "unknown kid",
        "no exp",
        "no iat",
        "no sub",
        "sub not a user id",
        "not yet valid",
    ],
)
async def test_invalid_tokens_are_401(client, services: FakeServices, signing_key: SigningKey, case):
    token = _bad_tokens(signing_key)[case]

    response = await client.get("/posts", headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json() == {"detail": "Could not validate credentials"}
    assert services.service_requests("posts") == []


async def test_a_non_bearer_scheme_is_401(client, signing_key: SigningKey):
    response = await client.get("/posts", headers={"Authorization": f"Basic {signing_key.token()}"})

    assert response.status_code == 401


async def test_a_valid_token_reaches_the_service_as_a_signed_identity(client, services: FakeServices, bearer):
    response = await client.get("/posts", headers={**bearer, "X-Request-ID": "req-1"})

    assert response.status_code == 200
    forwarded = services.service_requests("posts")[-1]
    assert verify_identity(forwarded.headers[IDENTITY_HEADER], SECRET) == Caller(user_id=7, email="ada@example.com")
    assert "authorization" not in forwarded.headers


async def test_a_token_within_the_clock_skew_is_accepted(client, signing_key: SigningKey):
    now = int(time.time())
    token = signing_key.token(iat=now - 1800, exp=now - 5)

    response = await client.get("/posts", headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 200


async def test_spoofed_identity_headers_never_reach_a_service(client, services: FakeServices, bearer):
    forged = sign_identity(Caller(user_id=1, email="admin@example.com"), SECRET)
    spoofed = {
        "X-User-Id": "1",
        "X-Tally-Identity": forged,
        "X-Tally-Anything": "1",
        "X-Forwarded-User": "admin",
        "Remote-User": "admin",
    }

    await client.post("/users", json={}, headers=spoofed)
    await client.get("/posts", headers={**spoofed, **bearer})

    public, protected = services.service_requests("auth")[-1], services.service_requests("posts")[-1]
    for name in spoofed:
        assert name not in public.headers
    assert verify_identity(protected.headers[IDENTITY_HEADER], SECRET).user_id == 7
    for name in ("X-User-Id", "X-Tally-Anything", "X-Forwarded-User", "Remote-User"):
        assert name not in protected.headers


async def test_a_spoofed_identity_without_a_token_is_still_401(client, services: FakeServices):
    forged = sign_identity(Caller(user_id=1, email="admin@example.com"), SECRET)

    response = await client.get("/posts", headers={"X-Tally-Identity": forged, "X-User-Id": "1"})

    assert response.status_code == 401
    assert services.service_requests("posts") == []


async def test_a_rotated_key_is_accepted_without_a_restart(settings, services: FakeServices, signing_key):
    settings = settings.model_copy(update={"jwks_refresh_min_interval": 0.05})
    async with gateway_client(settings, services.handle) as client:
        assert (
            await client.get("/posts", headers={"Authorization": f"Bearer {signing_key.token()}"})
        ).status_code == 200
        new_key = SigningKey(kid="key-2")
        services.keys = [new_key]
        await asyncio.sleep(0.06)
        response = await client.get("/posts", headers={"Authorization": f"Bearer {new_key.token(user_id=9)}"})

    assert response.status_code == 200
    assert verify_identity(services.service_requests("posts")[-1].headers[IDENTITY_HEADER], SECRET).user_id == 9


async def test_a_flood_of_unknown_kids_fetches_the_jwks_once(client, services: FakeServices, bearer):
    assert (await client.get("/posts", headers=bearer)).status_code == 200
    fetches = services.jwks_fetches

    for number in range(20):
        token = SigningKey(kid=f"made-up-{number}").token()
        assert (await client.get("/posts", headers={"Authorization": f"Bearer {token}"})).status_code == 401

    assert fetches == 1
    assert services.jwks_fetches <= fetches + 1


async def test_the_client_address_the_gateway_saw_reaches_the_service_not_the_clients_claim(
    client, services: FakeServices
):
    await client.post("/login", data={"username": "a@b.c", "password": "x"}, headers={CLIENT_ADDRESS_HEADER: "6.6.6.6"})

    forwarded = services.service_requests("auth")[-1]
    assert forwarded.headers[CLIENT_ADDRESS_HEADER] == "127.0.0.1"
