"""StorableText and RefuseNul: a NUL is a validation error; constraints keep their own errors and schema."""

import re
from typing import Annotated

import pytest
from pydantic import StringConstraints, TypeAdapter, ValidationError

from tally_shared.web import NOT_BLANK, RefuseNul, StorableText

Title = Annotated[str, StringConstraints(min_length=1, max_length=5, pattern=NOT_BLANK), RefuseNul]


@pytest.mark.parametrize("value", ["\x00", "a\x00", "\x00a", "a\x00b"])
def test_a_nul_anywhere_is_refused(value):
    with pytest.raises(ValidationError) as refused:
        TypeAdapter(StorableText).validate_python(value)

    [error] = refused.value.errors()
    assert error["type"] == "string_nul_character"
    assert error["msg"] == "Text must not contain the NUL character (\\u0000)"


def test_any_other_character_is_kept():
    every_other_character = "".join(chr(code) for code in range(1, 0xD800)) + "🔑"

    assert TypeAdapter(StorableText).validate_python(every_other_character) == every_other_character


@pytest.mark.parametrize(
    ("value", "error_type"),
    [("", "string_too_short"), ("too long", "string_too_long"), ("   ", "string_pattern_mismatch")],
)
def test_constraints_before_refuse_nul_keep_their_own_errors(value, error_type):
    with pytest.raises(ValidationError) as refused:
        TypeAdapter(Title).validate_python(value)

    assert [error["type"] for error in refused.value.errors()] == [error_type]


def test_constraints_before_refuse_nul_keep_their_json_schema_which_declares_the_rule():
    assert TypeAdapter(Title).json_schema() == {
        "type": "string",
        "minLength": 1,
        "maxLength": 5,
        "pattern": NOT_BLANK,
        "not": {"pattern": "\\u0000"},
    }


def test_the_declared_rule_is_the_one_applied():
    declared = re.compile(TypeAdapter(Title).json_schema()["not"]["pattern"])
    for text in ("a\x00", "\x00", "ok\x00ok"):
        assert declared.search(text)
        with pytest.raises(ValidationError):
            TypeAdapter(Title).validate_python(text)
    assert not declared.search("ok")


def test_blank_means_the_same_to_the_document_and_to_validation():
    """The declared pattern, read as any regex dialect reads an explicit class, refuses exactly the
    strings validation refuses, whatever white space they are made of (U+0085 and U+FEFF included,
    which `\\S` would have split between ECMAScript and pydantic)."""
    declared = re.compile(TypeAdapter(Title).json_schema()["pattern"])
    for code in (*range(1, 0xD800), *range(0xE000, 0x10000)):
        text = chr(code) * 2
        try:
            TypeAdapter(Title).validate_python(text)
        except ValidationError:
            accepted = False
        else:
            accepted = True
        assert accepted == bool(declared.search(text)), f"U+{code:04X}"
    for blank in ("\u0085", "\ufeff", " \u3000\t"):
        with pytest.raises(ValidationError):
            TypeAdapter(Title).validate_python(blank)
