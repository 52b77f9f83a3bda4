import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tally_shared.db import setup as dbsetup
from tally_testing import database_url_for_tests
from votes.app import create_app
from votes.settings import VotesSettings

from .conftest import DATABASE_URL


async def test_ready_once_migrated_into_its_own_schema():
    app = create_app(VotesSettings(database_url=DATABASE_URL))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://votes") as client:
        response = await client.get("/readyz")
    assert response.status_code == 200, response.text
    engine = create_engine(DATABASE_URL)
    with engine.connect() as connection:
        version_schema = (
            connection.execute(
                text("SELECT table_schema FROM information_schema.tables WHERE table_name = 'alembic_version'")
            )
            .scalars()
            .all()
        )
    engine.dispose()
    assert version_schema == ["votes"]


def test_the_votes_role_cannot_read_another_services_schema():
    admin_url = make_url(dbsetup.DEFAULT_ADMIN_URL)
    dbsetup.prepare(admin_url, {s: make_url(database_url_for_tests(s)) for s in ("auth", "posts")})
    engine = create_engine(DATABASE_URL)
    with engine.connect() as connection:
        for schema in ("auth", "posts"):
            denied = connection.execute(
                text("SELECT has_schema_privilege(current_user, :schema, 'USAGE')"), {"schema": schema}
            ).scalar()
            assert denied is False, schema
    engine.dispose()
