"""Identity end to end through the gateway: register, login, who am I, and every
way of pretending to be someone else gets 401."""

import base64
import hashlib
import hmac
import json
import time

import httpx
import jwt
import pytest
from accounts import PASSWORD, bearer, login, register
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import text

from tally_shared.settings import TallySettings
from tally_shared.web import IDENTITY_HEADER, Caller, sign_identity


def test_register_login_and_who_am_i(gateway):
    user = register(gateway)
    assert set(user) == {"id", "email", "created_at"}
    token = login(gateway, user["email"].upper())  # emails match case-insensitively

    me = gateway.get("/users/me", headers=bearer(token))
    assert me.status_code == 200
    assert me.json() == user
    by_id = gateway.get(f"/users/{user['id']}/", headers=bearer(token))  # trailing slash form
    assert by_id.status_code == 200
    assert by_id.json() == user
    assert me.headers["x-request-id"]


def test_wrong_credentials_are_refused_alike(gateway):
    user = register(gateway)
    wrong_password = gateway.post("/login", data={"username": user["email"], "password": "not it at all"})
    unknown_email = gateway.post("/login", data={"username": "nobody@example.com", "password": PASSWORD})
    assert wrong_password.status_code == unknown_email.status_code == 403
    assert wrong_password.json() == unknown_email.json() == {"detail": "Invalid Credentials"}


def test_user_registered_reaches_the_posts_replica(gateway, stack):
    user = register(gateway)
    posts_database = stack.database("posts")
    deadline = time.monotonic() + 15
    row = None
    while row is None and time.monotonic() < deadline:
        with posts_database.connect() as connection:
            row = connection.execute(
                text("SELECT id, email FROM posts.users WHERE id = :id"), {"id": user["id"]}
            ).first()
        time.sleep(0.05)
    posts_database.dispose()
    assert row is not None, "user.registered never reached the posts service"
    assert (row.id, row.email) == (user["id"], user["email"])


def signing_key(stack) -> Ed25519PrivateKey:
    [pem] = sorted(stack.keys_dir.glob("*.pem"))
    return serialization.load_pem_private_key(pem.read_bytes(), password=None)


def b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


@pytest.fixture
def genuine(gateway, stack) -> dict:
    """A real user, a real token, and what it takes to forge variants of it."""
    user = register(gateway)
    token = login(gateway, user["email"])
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, options={"verify_signature": False})
    return {"user": user, "token": token, "header": header, "claims": claims, "key": signing_key(stack)}


def hs256_keyed_with_public_key(genuine: dict) -> str:
    """The classic algorithm-confusion token; PyJWT refuses to make one, so it is made by hand."""
    public_pem = (
        genuine["key"]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    signing_input = b64({"alg": "HS256", "typ": "JWT", "kid": genuine["header"]["kid"]}) + "." + b64(genuine["claims"])
    signature = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + base64.urlsafe_b64encode(signature).rstrip(b"=").decode()


def forge(genuine: dict, **changes) -> str:
    return jwt.encode(
        {**genuine["claims"], **changes}, genuine["key"], algorithm="EdDSA", headers={"kid": genuine["header"]["kid"]}
    )


ATTACKS = {
    "no token": lambda g: None,
    "garbage": lambda g: "not-a-jwt",
    "alg none": lambda g: b64({"alg": "none", "typ": "JWT", "kid": g["header"]["kid"]}) + "." + b64(g["claims"]) + ".",
    "tampered payload": lambda g: (
        g["token"].split(".")[0] + "." + b64({**g["claims"], "sub": "1", "user_id": 1}) + "." + g["token"].split(".")[2]
    ),
    "other key, same kid": lambda g: jwt.encode(
        g["claims"], Ed25519PrivateKey.generate(), algorithm="EdDSA", headers={"kid": g["header"]["kid"]}
    ),
    "HS256 keyed with the public key": lambda g: hs256_keyed_with_public_key(g),
    "wrong aud": lambda g: forge(g, aud="someone-else"),
    "wrong iss": lambda g: forge(g, iss="https://evil.example"),
    "expired": lambda g: forge(g, iat=int(time.time()) - 7200, exp=int(time.time()) - 3600),
}


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_every_forged_token_gets_401(gateway, genuine, attack):
    token = ATTACKS[attack](genuine)
    headers = {} if token is None else bearer(token)
    response = gateway.get("/users/me", headers=headers)
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "detail" in response.json()


def test_the_genuine_token_still_works(gateway, genuine):
    # The control for the attacks above: the same request with the real token succeeds.
    response = gateway.get("/users/me", headers=bearer(genuine["token"]))
    assert response.status_code == 200
    assert response.json()["id"] == genuine["user"]["id"]


def test_spoofed_identity_headers_never_change_the_caller(gateway, genuine):
    victim = register(gateway)
    # Even an assertion signed with the real internal secret is stripped when a client sends it.
    forged_assertion = sign_identity(
        Caller(victim["id"], victim["email"]), TallySettings().internal_secret.get_secret_value()
    )
    spoofing = {
        IDENTITY_HEADER: forged_assertion,
        "X-User-Id": str(victim["id"]),
        "X-Forwarded-User": victim["email"],
        "X-Tally-User": str(victim["id"]),
    }
    with_token = gateway.get("/users/me", headers={**bearer(genuine["token"]), **spoofing})
    assert with_token.status_code == 200
    assert with_token.json()["id"] == genuine["user"]["id"]
    without_token = gateway.get("/users/me", headers=spoofing)
    assert without_token.status_code == 401


def test_a_service_reached_directly_trusts_no_forged_identity(stack, genuine):
    victim_id = genuine["user"]["id"]
    auth = stack.service_urls["auth"][0]
    forged = [
        {"X-User-Id": str(victim_id)},
        {IDENTITY_HEADER: sign_identity(Caller(victim_id, "x@example.com"), "not-the-internal-secret-but-long-enough")},
        {"Authorization": f"Bearer {genuine['token']}"},  # the service trusts only the gateway's assertion
    ]
    for headers in forged:
        response = httpx.get(f"{auth}/users/me", headers=headers)
        assert response.status_code == 401, (headers, response.text)
