import json
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import NoDecode

from tally_shared.settings import ServiceSettings


class GatewaySettings(ServiceSettings):
    """`TALLY_*` settings shared by every process, plus the gateway's own `GATEWAY_*` ones.

    An upstream URL may list several replicas separated by commas; the gateway
    sends requests to them in turn. The gateway owns the `gateway` schema: the
    users whose tokens it refuses, written by its worker from `user.deleted`.
    """

    service_name: str = "gateway"
    database_url: SecretStr = Field(
        default=SecretStr("postgresql+psycopg2://tally_gateway:tally_gateway@127.0.0.1:5432/tally"),
        validation_alias="GATEWAY_DATABASE_URL",
    )

    auth_url: str = Field(default="http://127.0.0.1:8001", validation_alias="GATEWAY_AUTH_URL")
    posts_url: str = Field(default="http://127.0.0.1:8002", validation_alias="GATEWAY_POSTS_URL")
    votes_url: str = Field(default="http://127.0.0.1:8003", validation_alias="GATEWAY_VOTES_URL")
    # Comma-separated ("https://a.example,https://b.example") or a JSON list.
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list, validation_alias="GATEWAY_CORS_ORIGINS")
    max_body_bytes: int = Field(default=1024 * 1024, ge=0, validation_alias="GATEWAY_MAX_BODY_BYTES")
    # Longer than a service's slowest answer under its own limits (a 5 s wait for a connection,
    # a 2 s lock wait, 5 s per statement), so the gateway never gives up on a write that may
    # still commit; a service past its limits answers 503 itself, before this.
    upstream_timeout: float = Field(default=20.0, gt=0, validation_alias="GATEWAY_UPSTREAM_TIMEOUT")
    # Proxying costs the gateway little per request; the services shed their own excess.
    max_requests_in_flight: int = Field(default=1024, ge=1, validation_alias="GATEWAY_MAX_REQUESTS_IN_FLIGHT")
    # An unknown `kid` makes the gateway refetch the JWKS, at most this often.
    jwks_refresh_min_interval: float = Field(default=10.0, ge=0, validation_alias="GATEWAY_JWKS_REFRESH_MIN_INTERVAL")
    clock_skew_seconds: int = Field(default=10, ge=0, validation_alias="GATEWAY_CLOCK_SKEW_SECONDS")
    # How often each gateway reads the revocations written since its last read.
    # Requests a second each client (by address) may make on average, and at once; 0 turns the limit off.
    rate_limit_per_second: float = Field(default=100.0, ge=0, validation_alias="GATEWAY_RATE_LIMIT_PER_SECOND")
    rate_limit_burst: int = Field(default=200, ge=1, validation_alias="GATEWAY_RATE_LIMIT_BURST")
    revocation_refresh_seconds: float = Field(default=0.5, gt=0, validation_alias="GATEWAY_REVOCATION_REFRESH_SECONDS")
    # When clients reach the gateway over HTTPS only (TLS ending at uvicorn or a proxy in front):
    # how long browsers must refuse plain HTTP to it, sent as Strict-Transport-Security; 0 sends none.
    hsts_seconds: int = Field(default=0, ge=0, validation_alias="GATEWAY_HSTS_SECONDS")

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            stripped = value.strip()
            if stripped.startswith("["):
                return json.loads(stripped)
            return [origin.strip() for origin in stripped.split(",") if origin.strip()]
        return value

    @field_validator("auth_url", "posts_url", "votes_url")
    @classmethod
    def _require_replicas(cls, value: str) -> str:
        replicas = [url.strip() for url in value.split(",") if url.strip()]
        if not replicas or not all(url.startswith(("http://", "https://")) for url in replicas):
            raise ValueError("an upstream URL must be one or more comma-separated http(s) URLs")
        return value
