"""Text that PostgreSQL can store, for every text field and query parameter a service accepts.

PostgreSQL refuses the NUL character (U+0000) in text; a NUL that got as far as
the database would be a 500. These refuse it during validation instead, so FastAPI
answers 422 with its usual list of field errors, the same in every service:

    username: StorableText
    title: Annotated[str, StringConstraints(max_length=300), RefuseNul]

Put `RefuseNul` after a field's constraints: pydantic applies annotations in order,
and length or pattern constraints placed after a validator lose their place in the
JSON schema and their usual error types.
"""

from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

NUL = "\x00"


def refuse_nul(value: str) -> str:
    """`value` unchanged, or a validation error of type `string_nul_character` if it holds a NUL."""
    if NUL in value:
        raise PydanticCustomError("string_nul_character", "Text must not contain the NUL character (\\u0000)")
    return value


@dataclass(frozen=True)
class _RefuseNul:
    """`refuse_nul` after the field's own validation, and the rule in its JSON schema.

    The schema says it with `not` rather than `pattern`: a field keeps its own pattern.
    """

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_after_validator_function(refuse_nul, handler(source))

    def __get_pydantic_json_schema__(self, schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema["not"] = {"pattern": "\\u0000"}
        return json_schema


RefuseNul = _RefuseNul()
# Any other character is allowed: a password may hold anything PostgreSQL can store.
StorableText = Annotated[str, RefuseNul]
