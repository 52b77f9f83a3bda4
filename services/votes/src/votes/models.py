"""The votes schema: its own tables only. Its tables arrive with the votes routes."""

from sqlalchemy import MetaData

metadata = MetaData(schema="votes")
