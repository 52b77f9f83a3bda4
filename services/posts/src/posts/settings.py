from pydantic import Field, SecretStr

from tally_shared.settings import ServiceSettings


class PostsSettings(ServiceSettings):
    service_name: str = "posts"
    database_url: SecretStr = Field(
        default=SecretStr("postgresql+psycopg2://tally_posts:tally_posts@127.0.0.1:5432/tally"),
        validation_alias="POSTS_DATABASE_URL",
    )
    # The votes service's internal URL, which reconciliation asks for the true counts.
    votes_url: str = Field(default="http://127.0.0.1:8003", validation_alias="POSTS_VOTES_URL")
