"""What every service accepts, by the same rules, and as its OpenAPI document says."""

from typing import Annotated, Any

from fastapi import Path
from pydantic import BeforeValidator, Field
from pydantic_core import PydanticCustomError


def _refuse_text_and_booleans(value: Any) -> Any:
    # pydantic's lax mode reads "5" and true as integers; JSON Schema's integer is a number with
    # no fraction (so 5.0 is one, which strict mode would refuse).
    if isinstance(value, str | bool):
        raise PydanticCustomError("int_type", "Input should be a valid integer")
    return value


# For an integer in a JSON body, after its constraints: `Annotated[int, Field(ge=0), RefuseTextAndBooleans]`.
RefuseTextAndBooleans = BeforeValidator(_refuse_text_and_booleans)

# PostgreSQL's bigint stops at 2**63 - 1: a larger id is refused (422) before it reaches the database.
# Most JSON clients and fuzzers read numbers as doubles, and 2**63 - 1 reads as 2**63; the document
# declares 2**63 - 1024, the largest double below the limit, so that every id a client takes for
# valid is accepted (those above it cannot exist: 404).
MAX_ID = 2**63 - 1
DECLARED_MAX_ID = 2**63 - 1024

IdInPath = Annotated[int, Path(gt=0, le=MAX_ID, json_schema_extra={"maximum": DECLARED_MAX_ID})]
IdInBody = Annotated[
    int,
    Field(gt=0, le=MAX_ID, json_schema_extra={"maximum": DECLARED_MAX_ID}),
    RefuseTextAndBooleans,
]
