"""The feed on the real database: the indexed title search, and walks by cursor that neither
repeat nor skip a post while posts are created, deleted and voted on between pages."""

import asyncio
import base64
import json
import random
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from posts import repository
from posts.events import apply_vote_changes
from tally_shared.events import VoteCast
from tally_shared.web import IDENTITY_HEADER, Caller, app_state, sign_identity

AUTHOR_ID = 1
NEXT_LINK = re.compile(r'^<(/posts\?[^>]+)>; rel="next"$')


@pytest.fixture
def database(app):
    return app_state(app).database


@pytest.fixture
def author(settings) -> dict[str, str]:
    """The header the gateway adds for a caller it has verified."""
    return {
        IDENTITY_HEADER: sign_identity(
            Caller(AUTHOR_ID, "ada@example.com"), settings.internal_secret.get_secret_value()
        )
    }


async def add_posts(database, titles: list[str], *, published: bool = True) -> list[int]:
    """Posts written straight through the repository, in one transaction (so one created_at)."""
    async with database.transaction() as session:
        await repository.ensure_user(session, user_id=AUTHOR_ID, email="ada@example.com")
        return [
            await repository.add_post(session, owner_id=AUTHOR_ID, title=title, content="c", published=published)
            for title in titles
        ]


async def add_many_posts(session, count: int) -> None:
    """Enough posts for the planner to prefer an index to a scan, in one statement."""
    await session.execute(
        text(
            "INSERT INTO posts.posts (owner_id, title, content)"
            " SELECT :owner_id, 'Ordinary title number ' || n, 'c' FROM generate_series(1, :count) AS n"
        ),
        {"owner_id": AUTHOR_ID, "count": count},
    )


async def vote(database, changes: dict[int, int]) -> None:
    """Applies vote deltas as the worker does (epoch 0: no reconciliation has run)."""
    async with database.transaction() as session:
        await repository.add_votes(session, [(post_id, 0, delta) for post_id, delta in changes.items()])


async def delete(database, post_id: int) -> None:
    async with database.transaction() as session:
        await repository.delete_post(session, post_id)


async def found(client, author, search: str) -> set[int]:
    response = await client.get("/posts", params={"search": search, "limit": 100}, headers=author)
    assert response.status_code == 200, response.text
    return {post["Post"]["id"] for post in response.json()}


def next_link(response) -> str | None:
    link = response.headers.get("link")
    if link is None:
        return None
    match = NEXT_LINK.match(link)
    assert match, link
    return match.group(1)


# ---- search ----


async def test_search_finds_rare_and_common_words_whatever_their_case(client, author, database):
    [rare] = await add_posts(database, ["A Quartzite ledge"])
    common = await add_posts(database, [f"Common word {n}" for n in range(30)])
    await add_posts(database, ["Nothing to see"] * 20)

    assert await found(client, author, "quartzite") == {rare}
    assert await found(client, author, "QUARTZ") == {rare}
    assert await found(client, author, "cOmMoN wOrD") == set(common)
    assert await found(client, author, "no title has this") == set()


async def test_search_of_one_or_two_characters_is_answered_too(client, author, database):
    # Too short for a trigram: answered by scanning instead (docs/benchmarks.md says what it costs).
    ids = await add_posts(database, ["Zx marks", "lazy XZ", "a zx b", "nothing"])
    assert await found(client, author, "zX") == {ids[0], ids[2]}
    assert await found(client, author, "Z") == {ids[0], ids[1], ids[2]}


async def test_search_takes_percent_underscore_and_backslash_literally(client, author, database):
    percent, digits, underscore, letter, backslash = await add_posts(
        database, ["100% sure", "1000 sure", "snake_case", "snakeycase", r"C:\temp"]
    )
    assert await found(client, author, "0%") == {percent}
    assert await found(client, author, "100% SURE") == {percent}
    assert await found(client, author, "e_c") == {underscore}
    assert await found(client, author, "_") == {underscore}
    assert await found(client, author, "%") == {percent}
    assert await found(client, author, "\\t") == {backslash}
    assert letter not in await found(client, author, "snake_")
    assert digits not in await found(client, author, "0%")


async def test_a_rare_word_is_found_through_the_trigram_index(database):
    await add_posts(database, ["The rare word xylophone"])
    async with database.transaction() as session:
        await add_many_posts(session, 30_000)
        await session.execute(text("ANALYZE posts.posts"))
        plan = await explain(
            session,
            repository._feed_statement("new", True),
            viewer_id=AUTHOR_ID,
            pattern="%xylophone%",
            limit=10,
            skip=0,
        )
    assert "ix_posts_title_trgm" in plan, plan


async def explain(session, statement, **parameters) -> str:
    """PostgreSQL's plan for one of the repository's statements, its parameters bound as the service binds them."""
    connection = await session.connection()
    compiled = statement.compile(dialect=connection.dialect)
    driver = (await connection.get_raw_connection()).driver_connection
    rows = await driver.fetch(f"EXPLAIN {compiled}", *(parameters[name] for name in compiled.positiontup))
    return "\n".join(row[0] for row in rows)


# ---- cursors ----


async def walk(client, author, *, order: str, limit: int, between_pages=None, **params) -> list[dict]:
    """Every page from the first by following the Link headers; `between_pages(n)` runs after page n."""
    pages = []
    response = await client.get("/posts", params={"order": order, "limit": limit, **params}, headers=author)
    while True:
        assert response.status_code == 200, response.text
        pages.append(response.json())
        link = next_link(response)
        if link is None:
            assert len(pages[-1]) < limit or pages[-1] == []
            return [post for page in pages for post in page]
        if between_pages:
            await between_pages(len(pages))
        response = await client.get(link, headers=author)


def ids_of(posts: list[dict]) -> list[int]:
    return [post["Post"]["id"] for post in posts]


@pytest.mark.parametrize("order", ["new", "top"])
async def test_a_walk_by_cursor_reads_the_same_posts_as_one_big_page(client, author, database, order):
    ids = await add_posts(database, [f"post {n}" for n in range(23)])
    await add_posts(database, ["a later one"])
    await vote(database, {post_id: random.randint(-2, 3) for post_id in ids})
    whole = await client.get("/posts", params={"order": order, "limit": 100}, headers=author)
    assert next_link(whole) is None

    walked = await walk(client, author, order=order, limit=5)

    assert ids_of(walked) == ids_of(whole.json())


async def test_the_link_keeps_the_search_and_limit_and_drops_skip(client, author, database):
    await add_posts(database, [f"match {n}" for n in range(6)] + ["other"] * 4)
    first = await client.get("/posts", params={"search": "MATCH", "limit": 2, "skip": 1}, headers=author)
    link = next_link(first)
    assert "search=MATCH" in link and "limit=2" in link and "skip" not in link and "cursor=" in link
    walked = await walk(client, author, order="new", limit=2, search="match")
    assert len(walked) == 6 and all("match" in post["Post"]["title"] for post in walked)


async def test_a_new_walk_survives_creates_and_deletes_between_pages(client, author, database):
    ids = await add_posts(database, [f"post {n}" for n in range(40)])
    deleted: set[int] = set()
    created: set[int] = set()

    async def change_things(page: int) -> None:
        # Posts created during the walk are newer than every cursor: they may or may not appear.
        created.update(await add_posts(database, [f"new during page {page}"] * 3))
        victim = random.choice([post_id for post_id in ids if post_id not in deleted])
        await delete(database, victim)
        deleted.add(victim)

    walked = ids_of(await walk(client, author, order="new", limit=6, between_pages=change_things))

    assert len(walked) == len(set(walked)), "a post was repeated"
    assert set(ids) - deleted <= set(walked), "a post that existed for the whole walk was skipped"
    assert set(walked) <= set(ids) | created


async def test_a_top_walk_neither_repeats_nor_skips_while_votes_move_posts(client, author, database):
    ids = await add_posts(database, [f"post {n}" for n in range(40)])
    await vote(database, {post_id: n % 13 for n, post_id in enumerate(ids)})
    seen: list[int] = []
    deleted: set[int] = set()

    async def move_posts(page: int) -> None:
        walked_so_far = set(seen)
        ahead = [post_id for post_id in ids if post_id not in walked_so_far and post_id not in deleted]
        behind = [post_id for post_id in ids if post_id in walked_so_far and post_id not in deleted]
        # Up past the cursor (a plain keyset would skip it), down below it (it would repeat it).
        changes = {random.choice(ahead): 50} if ahead else {}
        if behind:
            changes[random.choice(behind)] = -50
        await vote(database, changes)
        if len(ahead) > 1:
            victim = ahead[-1]
            await delete(database, victim)
            deleted.add(victim)
        await add_posts(database, [f"new during page {page}"])

    async def remember_then_move(page: int) -> None:
        seen.extend(ids_of(pages[-1]))
        await move_posts(page)

    pages: list[list[dict]] = []
    response = await client.get("/posts", params={"order": "top", "limit": 4}, headers=author)
    while True:
        pages.append(response.json())
        link = next_link(response)
        if link is None:
            break
        await remember_then_move(len(pages))
        response = await client.get(link, headers=author)
    walked = ids_of([post for page in pages for post in page])

    assert len(walked) == len(set(walked)), "a post was repeated"
    assert set(ids) - deleted <= set(walked), "a post that existed for the whole walk was skipped"


async def test_a_top_walk_is_exact_under_votes_applied_concurrently(client, author, database):
    """Workers apply vote batches as fast as they can while the walk goes on, some of their
    transactions begun before a page and committed after it: the walk still sees every post
    once, in the order of the counts as they were when it began."""
    ids = await add_posts(database, [f"post {n}" for n in range(60)])
    await vote(database, {post_id: n % 7 for n, post_id in enumerate(ids)})
    before = {post["Post"]["id"]: post["votes"] for post in await whole_feed(client, author, "top")}
    stop = asyncio.Event()

    async def voter(seed: int) -> int:
        rng = random.Random(seed)
        batches = 0
        while not stop.is_set():
            async with database.transaction() as session:
                await repository.add_votes(
                    session, [(rng.choice(ids), 0, rng.choice([-3, -1, 1, 3])) for _ in range(5)]
                )
                # Held open across a page read: committed after the page's snapshot was taken.
                await asyncio.sleep(rng.random() / 100)
            batches += 1
        return batches

    response = await client.get("/posts", params={"order": "top", "limit": 7}, headers=author)
    pages = []
    voters = [asyncio.create_task(voter(seed)) for seed in range(3)]
    try:
        while True:
            pages.append(response.json())
            if (link := next_link(response)) is None:
                break
            await asyncio.sleep(0.02)
            response = await client.get(link, headers=author)
    finally:
        stop.set()
        batches = sum(await asyncio.gather(*voters))
    walked = ids_of([post for page in pages for post in page])

    assert batches > len(pages), "the votes did not change counts during the walk"
    assert len(walked) == len(set(walked)), "a post was repeated"
    assert set(walked) == set(ids)
    # In the order of the counts as of the first page: nothing voted between it and `before`.
    expected = sorted(ids, key=lambda post_id: (before[post_id], post_id), reverse=True)
    assert walked == expected


async def whole_feed(client, author, order: str) -> list[dict]:
    response = await client.get("/posts", params={"order": order, "limit": 100}, headers=author)
    assert response.status_code == 200 and next_link(response) is None
    return response.json()


def cursor_of(link: str) -> str:
    return re.search(r"cursor=([^&]+)", link).group(1)


async def test_a_cursor_given_with_another_order_or_a_skip_or_made_up_is_400(client, author, database):
    await add_posts(database, [f"post {n}" for n in range(5)])
    link = next_link(await client.get("/posts", params={"limit": 2}, headers=author))
    for params in (
        {"cursor": cursor_of(link), "order": "top"},
        {"cursor": cursor_of(link), "skip": 2},
        {"cursor": "not-a-cursor"},
        {"cursor": base64.urlsafe_b64encode(b'{"order": "top", "votes": 1}').decode()},
        {
            "cursor": base64.urlsafe_b64encode(
                b'{"order": "new", "created_at": "2026-01-01T00:00Z", "id": 123456789012345678901234567890}'
            ).decode()
        },
    ):
        response = await client.get("/posts", params=params, headers=author)
        assert response.status_code == 400, (params, response.text)
        assert "cursor" in response.json()["detail"]


async def test_a_top_cursor_older_than_an_hour_is_410(client, author, database):
    await add_posts(database, [f"post {n}" for n in range(5)])
    link = next_link(await client.get("/posts", params={"limit": 2, "order": "top"}, headers=author))
    position = json.loads(base64.urlsafe_b64decode(cursor_of(link) + "=="))
    position["started_at"] = (datetime.now(UTC) - timedelta(hours=1, minutes=1)).isoformat()
    expired = base64.urlsafe_b64encode(json.dumps(position).encode()).decode()

    response = await client.get("/posts", params={"limit": 2, "order": "top", "cursor": expired}, headers=author)

    assert response.status_code == 410
    assert "start again" in response.json()["detail"]


async def journal(database) -> list[tuple[int, int]]:
    async with database.transaction() as session:
        rows = await session.execute(text("SELECT post_id, delta FROM posts.count_changes ORDER BY applied_at"))
        return [tuple(row) for row in rows]


async def test_a_vote_batch_journals_its_changes_and_prunes_those_past_a_cursors_lifetime(database):
    old, new = await add_posts(database, ["old", "new"])
    async with database.transaction() as session:
        await session.execute(
            text(
                "INSERT INTO posts.count_changes (post_id, delta, applied_at)"
                " VALUES (:id, 1, now() - interval '2 hours')"
            ),
            {"id": old},
        )
    async with database.transaction() as session:
        await apply_vote_changes(session, [(VoteCast(post_id=new, user_id=7, count_epoch=0), None)])

    assert await journal(database) == [(new, 1)]


async def test_a_reconciliation_reset_is_journaled_like_a_vote(database):
    [post_id] = await add_posts(database, ["drifted"])
    await vote(database, {post_id: 2})
    async with database.transaction() as session:
        await repository.reset_counts(session, [(post_id, 5, 1)])

    assert await journal(database) == [(post_id, 2), (post_id, 3)]
