"""The gateway's Swagger UI in a real browser (Debian's headless Chromium, driven by Playwright):
log in with Authorize, create a post and vote on it with "Try it out", every file and call the
page makes going to the gateway and nowhere else, nothing blocked by the page's CSP.

Without chromium or playwright this fails, never skips: `make test` installs both."""

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from accounts import PASSWORD, register
from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
# --disable-background-networking: the browser itself calls home for nothing, so every
# request the test sees is one the page made.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
# For every wait on the page (Playwright's and `expect`'s): a stack sharing 2 cores with other
# work can be slow to answer its first requests.
UI_TIMEOUT_MS = 30_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: `make test` installs it (Debian's chromium package)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser, tmp_path: Path) -> Iterator[Page]:
    """A fresh page; what it last showed is left in the test's tmp_path as docs.png, to look at after a failure."""
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    context.set_default_timeout(UI_TIMEOUT_MS)
    page = context.new_page()
    yield page
    page.screenshot(path=tmp_path / "docs.png", full_page=True)
    context.close()


def operation(page: Page, method: str, path: str) -> Locator:
    """The block of one operation, e.g. ("post", "/posts"), expanded."""
    block = page.locator(f".opblock-{method}").filter(has=page.locator(f'.opblock-summary-path[data-path="{path}"]'))
    block.locator(".opblock-summary").first.click()
    return block


def try_it_out(block: Locator, body: dict) -> tuple[int, dict]:
    """Fills the operation's JSON body, presses Execute, and reads the status and body the page shows."""
    block.get_by_role("button", name="Try it out").click()
    block.locator("textarea.body-param__text").fill(json.dumps(body))
    block.get_by_role("button", name="Execute").click()
    response = block.locator(".live-responses-table .response")
    status_cell = response.locator(".response-col_status")
    expect(status_cell).to_have_text(re.compile(r"^\s*\d{3}\s*$"), timeout=UI_TIMEOUT_MS)
    shown_body = response.locator(".response-col_description pre").first.inner_text()
    return int(status_cell.inner_text()), json.loads(shown_body)


def test_log_in_post_and_vote_through_the_swagger_ui(gateway, stack, page: Page):
    user = register(gateway)
    requested: list[str] = []
    page_errors: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.on("pageerror", lambda error: page_errors.append(str(error)))
    # The browser reports what the page's Content-Security-Policy blocked on the console.
    blocked: list[str] = []
    page.on(
        "console", lambda message: blocked.append(message.text) if "Content Security Policy" in message.text else None
    )

    page.goto(f"{stack.gateway_url}/docs")
    page.locator(".auth-wrapper").get_by_role("button", name="Authorize").click()
    dialog = page.locator(".modal-ux")
    dialog.locator("#oauth_username").fill(user["email"])
    dialog.locator("#oauth_password").fill(PASSWORD)
    # The dialog's buttons are named for screen readers: "Authorize" is "Apply given OAuth2
    # credentials", and the "Logout" that replaces it once /login has answered a token is
    # "Remove authorization".
    dialog.get_by_role("button", name="Apply given OAuth2 credentials").click()
    expect(dialog.get_by_role("button", name="Remove authorization")).to_be_visible(timeout=UI_TIMEOUT_MS)
    dialog.get_by_role("button", name="Close", exact=True).click()
    expect(dialog).to_be_hidden(timeout=UI_TIMEOUT_MS)

    status, post = try_it_out(operation(page, "post", "/posts"), {"title": "From Swagger UI", "content": "Hello"})
    assert status == 201, post
    assert post["title"] == "From Swagger UI"
    assert post["owner"]["email"] == user["email"]

    status, vote = try_it_out(operation(page, "post", "/vote"), {"post_id": post["id"], "dir": 1})
    assert status == 201, vote
    assert vote == {"message": "successfully added vote"}

    assert page_errors == []
    assert blocked == [], "the page's Content-Security-Policy blocked part of the Swagger UI"
    elsewhere = [url for url in requested if not url.startswith(stack.gateway_url + "/")]
    assert elsewhere == [], "the page loaded something from outside the gateway"
    assert f"{stack.gateway_url}/docs/assets/swagger-ui-bundle.js" in requested
