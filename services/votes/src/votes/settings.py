from pydantic import Field, SecretStr

from tally_shared.settings import ServiceSettings


class VotesSettings(ServiceSettings):
    service_name: str = "votes"
    database_url: SecretStr = Field(
        default=SecretStr("postgresql+psycopg2://tally_votes:tally_votes@127.0.0.1:5432/tally"),
        validation_alias="VOTES_DATABASE_URL",
    )
    # The posts service's internal URL, asked about a post too new for its event to have arrived.
    posts_url: str = Field(default="http://127.0.0.1:8002", validation_alias="VOTES_POSTS_URL")
