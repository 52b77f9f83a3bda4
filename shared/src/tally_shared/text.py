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

from typing import Annotated

from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

NUL = "\x00"


def refuse_nul(value: str) -> str:
    """`value` unchanged, or a validation error of type `string_nul_character` if it holds a NUL."""
    if NUL in value:
        raise PydanticCustomError("string_nul_character", "Text must not contain the NUL character (\\u0000)")
    return value


RefuseNul = AfterValidator(refuse_nul)
# Any other character is allowed: a password may hold anything PostgreSQL can store.
StorableText = Annotated[str, RefuseNul]
