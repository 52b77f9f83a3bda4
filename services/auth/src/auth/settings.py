from pathlib import Path

from pydantic import Field, SecretStr

from tally_shared.settings import ServiceSettings


class AuthSettings(ServiceSettings):
    service_name: str = "auth"
    database_url: SecretStr = Field(
        default=SecretStr("postgresql+psycopg2://tally_auth:tally_auth@127.0.0.1:5432/tally"),
        validation_alias="AUTH_DATABASE_URL",
    )
    # A PEM Ed25519 private key; when unset, keys live in (and are first generated into) jwt_keys_dir.
    jwt_private_key: SecretStr | None = Field(default=None, validation_alias="AUTH_JWT_PRIVATE_KEY")
    jwt_keys_dir: Path = Field(default=Path("var/keys/auth"), validation_alias="AUTH_JWT_KEYS_DIR")
    access_token_expire_minutes: int = Field(default=30, ge=1, validation_alias="AUTH_ACCESS_TOKEN_EXPIRE_MINUTES")

    # Login throttling (docs/login-throttling.md): failed logins are counted per account and per
    # client address over a sliding window; past a subject's allowance, each further failure
    # doubles its wait from `login_backoff_base_seconds`, never beyond the window.
    login_window_seconds: int = Field(default=900, ge=1, validation_alias="AUTH_LOGIN_WINDOW_SECONDS")
    login_failures_per_account: int = Field(default=5, ge=1, validation_alias="AUTH_LOGIN_FAILURES_PER_ACCOUNT")
    login_failures_per_address: int = Field(default=20, ge=1, validation_alias="AUTH_LOGIN_FAILURES_PER_ADDRESS")
    login_backoff_base_seconds: float = Field(default=1.0, gt=0, validation_alias="AUTH_LOGIN_BACKOFF_BASE_SECONDS")
