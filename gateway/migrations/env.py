from gateway.models import metadata
from gateway.settings import GatewaySettings
from tally_shared.db import run_migrations

run_migrations(metadata, GatewaySettings().database_url.get_secret_value())
