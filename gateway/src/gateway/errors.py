"""The gateway's own errors; `tally_shared.web` turns them into `{"detail": ...}` responses."""

from tally_shared.web import DomainError, NotAuthenticatedError, UnavailableError


class InvalidCredentialsError(NotAuthenticatedError):
    detail = "Could not validate credentials"


class CredentialsUncheckableError(UnavailableError):
    """The gateway has not yet read which users are revoked, so it cannot accept any token."""

    detail = "Credentials cannot be checked right now; try again shortly"


class PayloadTooLargeError(DomainError):
    status_code = 413
    detail = "Request body too large"


class BadGatewayError(DomainError):
    status_code = 502

    def __init__(self, service: str) -> None:
        super().__init__(f"The {service} service sent an invalid response")


class TooManyRequestsError(DomainError):
    status_code = 429
    detail = "Too many requests; slow down"

    def __init__(self, retry_after: int) -> None:
        super().__init__()
        self.headers = {"Retry-After": str(retry_after)}
