"""The generated AsyncAPI document is valid AsyncAPI 3.0, by the specification's own JSON schema.

The schema comes from npm's @asyncapi/specs, which `make contract-tools` (part of
`make test`) unpacks into the virtualenv.
"""

import json
import sys
from pathlib import Path

import jsonschema
import pytest

from tally_shared.events import EVENT_CATALOG, EVENT_TYPES, asyncapi_document

SPECS = Path(sys.prefix) / "asyncapi-specs"


@pytest.fixture(scope="module")
def asyncapi_schema() -> dict:
    # The bundle without $ids: its references are all local, so no resolver has to fetch anything.
    path = SPECS / "schemas" / "3.0.0-without-$id.json"
    if not path.exists():
        pytest.fail(f"{path} is missing: run `make contract-tools` (npm's @asyncapi/specs)")
    return json.loads(path.read_text())


def test_the_document_is_valid_asyncapi_3(asyncapi_schema):
    document = asyncapi_document("tally")
    jsonschema.validators.validator_for(asyncapi_schema)(asyncapi_schema).validate(document)


def test_the_validation_catches_an_invalid_document(asyncapi_schema):
    document = asyncapi_document("tally")
    document["operations"]["auth.sendUserRegistered"]["action"] = "publish"  # AsyncAPI 2's word, not 3's
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validators.validator_for(asyncapi_schema)(asyncapi_schema).validate(document)


def test_every_event_has_a_channel_a_message_and_its_operations():
    document = asyncapi_document("tally")
    addresses = {channel["address"] for channel in document["channels"].values()}
    assert addresses == set(EVENT_TYPES)
    for event_class, flow in EVENT_CATALOG.items():
        name = event_class.__name__
        assert document["channels"][name]["bindings"]["amqp"]["exchange"]["name"] == "tally.events"
        assert document["operations"][f"{flow.producer}.send{name}"]["action"] == "send"
        for consumer in flow.consumers:
            assert document["operations"][f"{consumer}.receive{name}"]["action"] == "receive"


def test_the_payload_types_data_per_event():
    document = asyncapi_document("tally")
    payload = document["components"]["messages"]["VoteCast"]["payload"]
    assert payload["properties"]["type"] == {"const": "vote.cast"}
    assert payload["properties"]["version"] == {"const": 2}
    assert payload["properties"]["data"] == {"$ref": "#/components/schemas/VoteCast"}
    assert set(document["components"]["schemas"]["VoteCast"]["required"]) == {"post_id", "user_id", "count_epoch"}
