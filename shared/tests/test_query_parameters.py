"""A query parameter a route takes once, given twice, is refused with a 422 that names it; one
the route takes as a list may repeat, and a request without repeats is untouched."""

from typing import Annotated

import httpx
from fastapi import APIRouter, Query

from tally_shared.settings import ServiceSettings
from tally_shared.web import create_service_app

router = APIRouter()


@router.get("/search")
async def search(
    word: str | None = None,
    limit: Annotated[int, Query(ge=1)] = 10,
    tags: Annotated[list[str] | None, Query()] = None,
) -> dict[str, object]:
    return {"word": word, "limit": limit, "tags": tags}


async def get(url: str) -> httpx.Response:
    settings = ServiceSettings(service_name="search", database_url="postgresql://unused@127.0.0.1:1/unused")
    app = create_service_app(settings, title="Search", routers=[router])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://search") as client:
        return await client.get(url)


async def test_a_single_valued_parameter_given_twice_is_a_422_naming_it():
    response = await get("/search?word=a&tags=x&word=b&limit=2&limit=3")
    assert response.status_code == 422
    assert response.json()["detail"] == [
        {
            "type": "repeated_query_parameter",
            "loc": ["query", "limit"],
            "msg": "Give this parameter once, not 2 times",
            "input": ["2", "3"],
        },
        {
            "type": "repeated_query_parameter",
            "loc": ["query", "word"],
            "msg": "Give this parameter once, not 2 times",
            "input": ["a", "b"],
        },
    ]


async def test_a_list_parameter_may_repeat_and_an_undeclared_one_is_ignored_as_before():
    response = await get("/search?word=a&tags=x&tags=y&other=1&other=2")
    assert response.status_code == 200
    assert response.json() == {"word": "a", "limit": 10, "tags": ["x", "y"]}
