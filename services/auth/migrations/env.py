from auth.models import metadata
from auth.settings import AuthSettings
from tally_shared.db import run_migrations

run_migrations(metadata, AuthSettings().database_url.get_secret_value())
