from tally_shared.db import run_migrations
from votes.models import metadata
from votes.settings import VotesSettings

run_migrations(metadata, VotesSettings().database_url.get_secret_value())
