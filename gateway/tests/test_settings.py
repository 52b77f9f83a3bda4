import pytest
from pydantic import ValidationError

from gateway.routing import upstreams_from
from gateway.settings import GatewaySettings


def test_defaults(monkeypatch):
    monkeypatch.delenv("GATEWAY_DATABASE_URL", raising=False)
    settings = GatewaySettings(_env_file=None)

    assert settings.auth_url == "http://127.0.0.1:8001"
    assert settings.max_body_bytes == 1024 * 1024
    assert settings.cors_origins == []
    assert settings.service_name == "gateway"
    assert settings.database_url.get_secret_value() == (
        "postgresql+psycopg2://tally_gateway:tally_gateway@127.0.0.1:5432/tally"
    )
    assert settings.revocation_refresh_seconds == 0.5


def test_environment_variables(monkeypatch):
    monkeypatch.setenv("GATEWAY_CORS_ORIGINS", "https://a.example, https://b.example")
    monkeypatch.setenv("GATEWAY_POSTS_URL", "http://10.0.0.1:8002,http://10.0.0.2:8002/")
    monkeypatch.setenv("GATEWAY_MAX_BODY_BYTES", "2048")
    monkeypatch.setenv("TALLY_JWT_AUDIENCE", "tally-test")
    monkeypatch.setenv("GATEWAY_DATABASE_URL", "postgresql+psycopg2://gw:pw@db.internal:5432/tally")
    monkeypatch.setenv("GATEWAY_REVOCATION_REFRESH_SECONDS", "2.5")

    settings = GatewaySettings()

    assert settings.cors_origins == ["https://a.example", "https://b.example"]
    assert upstreams_from(settings)["posts"].urls == ("http://10.0.0.1:8002", "http://10.0.0.2:8002")
    assert settings.max_body_bytes == 2048
    assert settings.jwt_audience == "tally-test"
    assert settings.database_url.get_secret_value() == "postgresql+psycopg2://gw:pw@db.internal:5432/tally"
    assert settings.revocation_refresh_seconds == 2.5


def test_cors_origins_as_a_json_list(monkeypatch):
    monkeypatch.setenv("GATEWAY_CORS_ORIGINS", '["https://a.example"]')

    assert GatewaySettings().cors_origins == ["https://a.example"]


def test_an_upstream_must_be_a_url(monkeypatch):
    monkeypatch.setenv("GATEWAY_VOTES_URL", "votes:8003")

    with pytest.raises(ValidationError):
        GatewaySettings()


def test_production_refuses_the_development_secret(monkeypatch):
    monkeypatch.setenv("TALLY_ENVIRONMENT", "production")
    monkeypatch.delenv("TALLY_INTERNAL_SECRET", raising=False)

    with pytest.raises(ValidationError):
        GatewaySettings()
