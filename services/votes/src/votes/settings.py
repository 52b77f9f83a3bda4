from pydantic import Field, SecretStr

from tally_shared.settings import ServiceSettings


class VotesSettings(ServiceSettings):
    service_name: str = "votes"
    database_url: SecretStr = Field(
        default=SecretStr("postgresql+psycopg2://tally_votes:tally_votes@127.0.0.1:5432/tally"),
        validation_alias="VOTES_DATABASE_URL",
    )
