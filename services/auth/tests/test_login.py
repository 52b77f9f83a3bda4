import os
import stat
import subprocess
import sys

import jwt
import pytest
from argon2 import PasswordHasher
from sqlalchemy import text

from auth.keys import KeyRing, write_new_key
from auth.service import AuthService
from tally_shared.web import app_state, resource

from .conftest import PASSWORD, register


async def login(client, email, password=PASSWORD):
    return await client.post("/login", data={"username": email, "password": password})


def verify_with_jwks(token: str, jwks: dict, settings) -> dict:
    keys = jwt.PyJWKSet.from_dict(jwks)
    kid = jwt.get_unverified_header(token)["kid"]
    [key] = [key for key in keys.keys if key.key_id == kid]
    return jwt.decode(token, key.key, algorithms=["EdDSA"], audience=settings.jwt_audience, issuer=settings.jwt_issuer)


async def test_login_issues_a_token_the_jwks_verifies(client, settings):
    ada = await register(client)
    response = await login(client, "ADA@example.com")
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    jwks = (await client.get("/.well-known/jwks.json")).json()
    claims = verify_with_jwks(body["access_token"], jwks, settings)
    assert claims["sub"] == str(ada["id"])
    assert claims["user_id"] == ada["id"]
    assert claims["email"] == ada["email"]
    assert claims["exp"] - claims["iat"] == settings.access_token_expire_minutes * 60
    assert len(claims["jti"]) == 32
    assert jwt.get_unverified_header(body["access_token"])["alg"] == "EdDSA"


@pytest.mark.parametrize("email, password", [("ada@example.com", "wrong password"), ("nobody@example.com", PASSWORD)])
async def test_wrong_credentials_are_403_alike(client, email, password):
    await register(client)
    response = await login(client, email, password)
    assert response.status_code == 403
    assert response.json() == {"detail": "Invalid Credentials"}


@pytest.mark.parametrize(
    "registered, typed", [("İnci@example.com", "İnci@example.com"), ("Émile@example.com", "émile@EXAMPLE.com")]
)
async def test_login_matches_emails_as_the_unique_index_does(client, registered, typed):
    """Case folding is PostgreSQL's on both sides; Python's `lower` disagrees with it on some letters."""
    await register(client, registered)
    response = await login(client, typed)
    assert response.status_code == 200, response.text


async def test_login_without_a_field_is_422(client):
    response = await client.post("/login", data={"username": "ada@example.com"})
    assert response.status_code == 422


class CountingHasher(PasswordHasher):
    def __init__(self):
        super().__init__()
        self.verified = 0

    def verify(self, hash, password):
        self.verified += 1
        return super().verify(hash, password)


async def test_an_unknown_email_costs_a_password_verification_too(app, settings, client):
    """The same work for an unknown email as for a wrong password: one Argon2 verify each."""
    hasher = CountingHasher()
    counted = AuthService(settings, app_state(app).resource(KeyRing), hasher)
    app.dependency_overrides[resource(AuthService)] = lambda: counted
    await register(client)
    await login(client, "ada@example.com", "wrong password")
    assert hasher.verified == 1
    await login(client, "nobody@example.com", "wrong password")
    assert hasher.verified == 2


async def test_a_new_key_signs_without_a_restart_and_old_tokens_still_verify(client, settings):
    await register(client)
    old_token = (await login(client, "ada@example.com")).json()["access_token"]
    old_kid = jwt.get_unverified_header(old_token)["kid"]

    write_new_key(settings.jwt_keys_dir)
    new_token = (await login(client, "ada@example.com")).json()["access_token"]
    new_kid = jwt.get_unverified_header(new_token)["kid"]
    jwks = (await client.get("/.well-known/jwks.json")).json()

    assert new_kid != old_kid
    assert {key["kid"] for key in jwks["keys"]} == {old_kid, new_kid}
    verify_with_jwks(old_token, jwks, settings)
    verify_with_jwks(new_token, jwks, settings)


def test_the_first_key_is_generated_private_to_the_service(settings):
    KeyRing(settings)
    [key_file] = list(settings.jwt_keys_dir.iterdir())
    assert key_file.suffix == ".pem"
    assert stat.S_IMODE(settings.jwt_keys_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_the_rotate_command_adds_the_key_that_signs_next(settings):
    keyring = KeyRing(settings)
    first_kid = keyring.signing_key().kid
    environment = {**os.environ, "AUTH_JWT_KEYS_DIR": str(settings.jwt_keys_dir)}
    subprocess.run([sys.executable, "-m", "auth.keys", "rotate"], env=environment, check=True, capture_output=True)
    assert len(list(settings.jwt_keys_dir.glob("*.pem"))) == 2
    assert keyring.signing_key().kid != first_kid
    assert {key["kid"] for key in keyring.jwks()["keys"]} == {first_kid, keyring.signing_key().kid}


async def test_login_rehashes_a_password_hashed_with_older_parameters(app, settings, client):
    weak_hasher = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1)
    weak = AuthService(settings, app_state(app).resource(KeyRing), weak_hasher)
    app.dependency_overrides[resource(AuthService)] = lambda: weak
    await register(client)
    del app.dependency_overrides[resource(AuthService)]

    assert (await login(client, "ada@example.com")).status_code == 200
    async with app_state(app).database.transaction() as session:
        password_hash = await session.scalar(text("SELECT password_hash FROM auth.users"))
    assert not PasswordHasher().check_needs_rehash(password_hash)
    assert PasswordHasher().verify(password_hash, PASSWORD)
