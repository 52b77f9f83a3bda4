"""The gateway's security headers on the real stack's answers: tokens, user data, errors, /docs."""

from accounts import PASSWORD, new_account, register


def test_answers_carrying_tokens_or_user_data_are_not_stored_nor_sniffed(gateway):
    user = register(gateway)
    account = new_account(gateway)
    answers = {
        "token": gateway.post("/login", data={"username": user["email"], "password": PASSWORD}),
        "me": gateway.get("/users/me", headers=account.headers),
        "feed": gateway.get("/posts", headers=account.headers),
        "refused": gateway.get("/posts"),
        "service error": gateway.post("/posts", json={}, headers=account.headers),
    }
    for name, answer in answers.items():
        assert answer.headers["cache-control"] == "no-store", name
        assert answer.headers["x-content-type-options"] == "nosniff", name
        assert answer.headers["referrer-policy"] == "no-referrer", name
        assert "strict-transport-security" not in answer.headers, name  # the e2e stack is plain HTTP


def test_the_docs_page_may_load_only_the_gateways_own_assets(gateway):
    docs = gateway.get("/docs")
    policy = docs.headers["content-security-policy"]

    assert "default-src 'none'" in policy
    assert "script-src 'self' 'sha256-" in policy
    assert "http" not in policy and "*" not in policy and "unsafe" not in policy
    assert docs.headers["x-content-type-options"] == "nosniff"
    assert gateway.get("/docs/assets/swagger-ui-bundle.js").headers["x-content-type-options"] == "nosniff"
