"""Settings every Tally process shares; each service subclasses `ServiceSettings`."""

from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEVELOPMENT_INTERNAL_SECRET = "tally-development-internal-secret-change-me"

LogFormat = Literal["text", "json"]


class TallySettings(BaseSettings):
    """Settings read from `TALLY_*` variables, the same for every process of the stack."""

    model_config = SettingsConfigDict(env_prefix="TALLY_", extra="ignore", populate_by_name=True)

    environment: Literal["development", "test", "production"] = "development"
    log_level: str = "INFO"
    # `LOG_FORMAT=json` (the name the containers set) or `TALLY_LOG_FORMAT=json`: one JSON object per line.
    log_format: LogFormat = Field(default="text", validation_alias=AliasChoices("LOG_FORMAT", "TALLY_LOG_FORMAT"))
    amqp_url: SecretStr = SecretStr("amqp://guest:guest@127.0.0.1:5672/")
    # Exchange and queue names start with this, so a test run or a second stack
    # can share a broker without touching anyone else's messages.
    event_namespace: str = "tally"
    # After this many deliveries a message is dead-lettered instead of redelivered.
    event_delivery_limit: int = Field(default=20, ge=1)
    event_prefetch: int = Field(default=300, ge=1)
    # Signs the identity the gateway forwards to the services (see identity.py).
    internal_secret: SecretStr = SecretStr(DEVELOPMENT_INTERNAL_SECRET)
    jwt_issuer: str = "tally-auth"
    jwt_audience: str = "tally"

    @model_validator(mode="after")
    def _refuse_development_secret_in_production(self) -> "TallySettings":
        if self.environment == "production" and self.internal_secret.get_secret_value() == DEVELOPMENT_INTERNAL_SECRET:
            raise ValueError("TALLY_INTERNAL_SECRET must be set outside development")
        return self


class ServiceSettings(TallySettings):
    """Settings of one service that owns a PostgreSQL schema.

    The database limits bound each process: a pool of `database_pool_size`
    connections, a wait of at most `database_pool_timeout` seconds for one (then
    503), and PostgreSQL's own timeouts on every connection, so that no statement,
    lock wait or forgotten transaction can hold a connection for long.
    """

    service_name: str
    database_url: SecretStr
    database_pool_size: int = Field(default=10, ge=1)
    database_pool_timeout: float = Field(default=5.0, gt=0)
    database_statement_timeout_ms: int = Field(default=5_000, ge=1)
    database_lock_timeout_ms: int = Field(default=2_000, ge=1)
    database_idle_in_transaction_timeout_ms: int = Field(default=10_000, ge=1)
    # Requests one API process serves at once; past it, 503 at once instead of a queue.
    max_requests_in_flight: int = Field(default=256, ge=1)
    # How long a stored `Idempotency-Key` answer is replayed (see idempotency.py).
    idempotency_key_lifetime_seconds: int = Field(default=24 * 3600, ge=1)
