"""The gateway's event consumer process: `python -m gateway.worker`.

It records every `user.deleted` in `gateway.revoked_users`, where every gateway
replica reads it (see revocations.py). Its queue is `<namespace>.gateway`; several
workers may consume it at once, since they all write the one table.
"""

import logging

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.models import inbox, revoked_users
from gateway.settings import GatewaySettings
from tally_shared.events import Envelope, Event, Handler, UserDeleted, run_worker

# Named, not __name__: run as `python -m gateway.worker` this module is __main__.
logger = logging.getLogger("gateway.worker")


async def apply_user_deleted(session: AsyncSession, event: UserDeleted, envelope: Envelope) -> None:
    revoked = (
        await session.execute(
            insert(revoked_users)
            .values(user_id=event.user_id)
            .on_conflict_do_nothing(index_elements=[revoked_users.c.user_id])
            .returning(revoked_users.c.user_id)
        )
    ).first()
    if revoked is None:
        logger.info("user %d was already revoked", event.user_id)
    else:
        logger.info("user %d revoked: their tokens are refused from now on", event.user_id)


HANDLERS: dict[type[Event], Handler] = {UserDeleted: apply_user_deleted}


def main() -> None:
    run_worker(GatewaySettings(), inbox=inbox, handlers=HANDLERS)


if __name__ == "__main__":
    main()
