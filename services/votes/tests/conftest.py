from pathlib import Path

from tally_shared.testing import prepare_service_database

DATABASE_URL = prepare_service_database("votes", Path(__file__).parents[1] / "alembic.ini")
