from pydantic import Field, SecretStr

from tally_shared.settings import ServiceSettings


class PostsSettings(ServiceSettings):
    service_name: str = "posts"
    database_url: SecretStr = Field(
        default=SecretStr("postgresql+psycopg2://tally_posts:tally_posts@127.0.0.1:5432/tally"),
        validation_alias="POSTS_DATABASE_URL",
    )
