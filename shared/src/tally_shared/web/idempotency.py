"""`Idempotency-Key` on writes: however often a client retries, one effect and one answer.

After the IETF httpapi draft "The Idempotency-Key HTTP Header Field". The service that
owns the write keeps, per caller and key, a fingerprint of the request (method, path,
body) and the answer it gave, in the same transaction as the write: the effect and the
stored answer commit together, or neither does.

- A repeat with the same key and the same request gets the stored answer again, marked
  `Idempotent-Replayed: true`, and changes nothing.
- The same key with another request is 422: the client reused a key by mistake.
- A repeat while the first is still being processed is 409 with `Retry-After`: the
  first holds a transaction-scoped advisory lock on (caller, key), and a repeat that
  cannot take it at once says so instead of waiting (or running the write twice).
- Only successful answers are stored. A request a business rule refused (4xx) or that
  failed (5xx) rolled back and changed nothing, so its key is not used up: a retry runs
  again and answers for the state of things then (a vote on a post that has arrived
  meanwhile succeeds instead of replaying a stale 404).
- Keys live `idempotency_key_lifetime_seconds` (24 h by default); expired rows are
  deleted in small batches by the service's relay process (`expiry.py`), through an
  index on `expires_at`, never on a request's path. An expired key is a new key.
"""

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

from fastapi import Depends, Header, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    func,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from tally_shared.web.dependencies import CurrentCaller, SessionDep
from tally_shared.web.errors import ConflictError
from tally_shared.web.state import service_state

IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
KEY_MAX_LENGTH = 255
# Printable ASCII without spaces: what fits a header value and a log line unescaped.
KEY_PATTERN = r"^[\x21-\x7e]+$"

_TRY_LOCK = text("SELECT pg_try_advisory_xact_lock(hashtextextended(:lock_name, 0))")


def idempotency_keys_table(metadata: MetaData) -> Table:
    """The stored answers of the service whose schema `metadata` targets."""
    table = Table(
        "idempotency_keys",
        metadata,
        Column("caller_id", BigInteger, primary_key=True),
        Column("key", String(KEY_MAX_LENGTH), primary_key=True),
        # SHA-256 of the method, path and body: a repeat must be the same request.
        Column("request_hash", LargeBinary, nullable=False),
        Column("status_code", SmallInteger, nullable=False),
        # The answer's bytes as first sent (JSON, or empty for 204), replayed as they are.
        Column("response_body", LargeBinary, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("expires_at", DateTime(timezone=True), nullable=False),
    )
    Index("ix_idempotency_keys_expires_at", table.c.expires_at)
    return table


class KeyInFlightError(ConflictError):
    detail = "A request with this Idempotency-Key is still being processed; retry after a moment"
    headers = {"Retry-After": "1"}


def key_reused_error(key: str) -> RequestValidationError:
    """The 422 of a key reused for another request, in the shape of every other 422 (FastAPI's
    list of field errors, here on the header), so the one declared schema describes them all."""
    return RequestValidationError(
        [
            {
                "type": "idempotency_key_reused",
                "loc": ("header", IDEMPOTENCY_KEY_HEADER),
                "msg": "This Idempotency-Key was already used for a different request",
                "input": key,
            }
        ]
    )


def request_fingerprint(method: str, path: str, body: bytes) -> bytes:
    digest = hashlib.sha256()
    for part in (method.upper().encode(), path.encode(), body):
        # Length-prefixed, so no two different requests run together into the same bytes.
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.digest()


@dataclass
class IdempotentWrite:
    """One write request, with or without a key; `respond` runs the write at most once per key."""

    session: AsyncSession
    table: Table
    caller_id: int
    key: str | None
    fingerprint: bytes
    lifetime: timedelta

    async def respond(
        self,
        write: Callable[[], Awaitable[Any]],
        *,
        status_code: int,
        model: type[BaseModel] | None = None,
    ) -> Response:
        """The answer to the request: `write()`'s result as `model`, or the answer stored for the key.

        Without a key, `write()` runs and its answer is not stored.
        """
        if self.key is None:
            return _response(status_code, _render(await write(), model))
        await self._lock_key()
        stored = await self._stored_answer()
        if stored is not None:
            if stored.request_hash != self.fingerprint:
                raise key_reused_error(self.key)
            return _response(stored.status_code, stored.response_body, headers={REPLAYED_HEADER: "true"})
        body = _render(await write(), model)
        await self._store(status_code, body)
        return _response(status_code, body)

    async def _lock_key(self) -> None:
        # Named after the table too: services sharing a database must not share key locks.
        lock_name = f"{self.table.schema}.{self.table.name}.{self.caller_id}.{self.key}"
        if not (await self.session.execute(_TRY_LOCK, {"lock_name": lock_name})).scalar_one():
            raise KeyInFlightError()

    async def _stored_answer(self) -> Any:
        keys = self.table
        result = await self.session.execute(
            select(keys.c.request_hash, keys.c.status_code, keys.c.response_body).where(
                keys.c.caller_id == self.caller_id, keys.c.key == self.key, keys.c.expires_at > func.now()
            )
        )
        return result.first()

    async def _store(self, status_code: int, body: bytes) -> None:
        answer = {
            "request_hash": self.fingerprint,
            "status_code": status_code,
            "response_body": body,
            "created_at": func.now(),
            "expires_at": func.now() + self.lifetime,
        }
        # Over an expired row of the same key, which the purge has not reached yet.
        await self.session.execute(
            insert(self.table)
            .values(caller_id=self.caller_id, key=self.key, **answer)
            .on_conflict_do_update(index_elements=[self.table.c.caller_id, self.table.c.key], set_=answer)
        )


def _render(result: Any, model: type[BaseModel] | None) -> bytes:
    if model is None:
        return b""
    return model.model_validate(result).model_dump_json(by_alias=True).encode()


def _response(status_code: int, body: bytes, headers: dict[str, str] | None = None) -> Response:
    media_type = "application/json" if body else None
    return Response(content=body, status_code=status_code, media_type=media_type, headers=headers)


async def idempotent_write(
    request: Request,
    caller: CurrentCaller,
    session: SessionDep,
    key: Annotated[
        str | None,
        Header(
            alias=IDEMPOTENCY_KEY_HEADER,
            min_length=1,
            max_length=KEY_MAX_LENGTH,
            pattern=KEY_PATTERN,
            description="Optional. A key the client chooses (a UUID, say) so that retrying this write "
            "is safe: a repeat with the same key and body, by the same user, within 24 hours, gets "
            f"the first answer again with `{REPLAYED_HEADER}: true` and changes nothing.",
        ),
    ] = None,
) -> IdempotentWrite:
    """The dependency a write route takes to honour `Idempotency-Key` (as `Idempotency`).

    It shares the route's transaction (`SessionDep`), so the stored answer commits with
    the write, in the table the service gave `create_service_app` as `idempotency_keys`.
    """
    state = service_state(request)
    if state.idempotency_keys is None:
        raise LookupError("create_service_app was given no idempotency_keys table")
    return IdempotentWrite(
        session=session,
        table=state.idempotency_keys,
        caller_id=caller.user_id,
        key=key,
        fingerprint=request_fingerprint(request.method, request.url.path, await request.body()),
        lifetime=timedelta(seconds=state.settings.idempotency_key_lifetime_seconds),
    )


Idempotency = Annotated[IdempotentWrite, Depends(idempotent_write)]


_ERROR_BODY = {
    "application/json": {
        "schema": {"type": "object", "properties": {"detail": {"type": "string"}}, "required": ["detail"]}
    }
}


def idempotency_openapi(success_status: int) -> dict[str, Any]:
    """`openapi_extra` of a write route that takes `idempotent_write`: the replay header and the
    answers the key adds (the 422 keeps FastAPI's validation schema; its description says more)."""
    return {
        "responses": {
            str(success_status): {
                "headers": {
                    REPLAYED_HEADER: {
                        "description": "`true` when this is the stored answer to an earlier request "
                        "with the same `Idempotency-Key`",
                        "schema": {"type": "string", "enum": ["true"]},
                    }
                }
            },
            "409": {
                "description": "Conflict; or a request with the same `Idempotency-Key` is still being "
                "processed: retry after `Retry-After` seconds",
                "headers": {"Retry-After": {"schema": {"type": "integer"}}},
                "content": _ERROR_BODY,
            },
            "422": {
                "description": "Validation Error; or the `Idempotency-Key` was already used for a "
                "different request (another method, path or body): an error of type "
                "`idempotency_key_reused` on the header"
            },
        }
    }
