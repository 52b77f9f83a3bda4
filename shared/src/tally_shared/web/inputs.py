"""What every service accepts, by the same rules, and as its OpenAPI document says.

Ids are PostgreSQL bigints (`IdInPath`, `IdInBody`); "not blank" is `NOT_BLANK`, read the same
by the document's regex dialect and by validation; a query parameter a route takes once may
not be given twice (`refuse_repeated_query_parameters`, on every app). Text must be storable:
PostgreSQL refuses the NUL character (U+0000) in text; a NUL that got as far as
the database would be a 500. These refuse it during validation instead, so FastAPI
answers 422 with its usual list of field errors, the same in every service:

    username: StorableText
    title: Annotated[str, StringConstraints(max_length=300), RefuseNul]

Put `RefuseNul` after a field's constraints: pydantic applies annotations in order,
and length or pattern constraints placed after a validator lose their place in the
JSON schema and their usual error types.
"""

import types
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any, Union, get_args, get_origin

from fastapi import Path, Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BeforeValidator, Field, GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError, core_schema


def _refuse_text_and_booleans(value: Any) -> Any:
    # pydantic's lax mode reads "5" and true as integers; JSON Schema's integer is a number with
    # no fraction (so 5.0 is one, which strict mode would refuse).
    if isinstance(value, str | bool):
        raise PydanticCustomError("int_type", "Input should be a valid integer")
    return value


# For an integer in a JSON body, after its constraints: `Annotated[int, Field(ge=0), RefuseTextAndBooleans]`.
RefuseTextAndBooleans = BeforeValidator(_refuse_text_and_booleans)

# A string that is not blank holds one character outside this class: white space spelled out,
# because `\S` means one set in ECMAScript, the regex dialect of the OpenAPI document and of its
# clients' validators (U+FEFF is white space there, U+0085 is not), and another in pydantic's Rust
# regex (the other way round). `StringConstraints(pattern=NOT_BLANK)`.
NOT_BLANK = r"[^\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]"

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


async def refuse_repeated_query_parameters(request: Request) -> None:
    """A query parameter given twice where the route takes one value (`?search=a&search=b`) is a
    422, in the shape of every other, instead of the last value silently winning."""
    names = [name for name, _ in request.query_params.multi_items()]
    route = request.scope.get("route")
    if len(names) == len(set(names)) or not isinstance(route, APIRoute):
        return
    single_valued = {
        field.alias for field in _query_fields(route.dependant) if not _takes_many(field.field_info.annotation)
    }
    repeated = {name: request.query_params.getlist(name) for name in single_valued if names.count(name) > 1}
    if repeated:
        raise RequestValidationError(
            [
                {
                    "type": "repeated_query_parameter",
                    "loc": ("query", name),
                    "msg": f"Give this parameter once, not {len(values)} times",
                    "input": values,
                }
                for name, values in sorted(repeated.items())
            ]
        )


def _query_fields(dependant: Dependant) -> Iterator[Any]:
    yield from dependant.query_params
    for dependency in dependant.dependencies:
        yield from _query_fields(dependency)


def _takes_many(annotation: Any) -> bool:
    origin = get_origin(annotation)
    if origin is Annotated:
        return _takes_many(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        return any(_takes_many(argument) for argument in get_args(annotation))
    return origin in (list, set, frozenset, tuple)
