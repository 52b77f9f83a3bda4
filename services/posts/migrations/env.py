from posts.models import metadata
from posts.settings import PostsSettings
from tally_shared.db import run_migrations

run_migrations(metadata, PostsSettings().database_url.get_secret_value())
