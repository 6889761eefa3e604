"""Users and authentication through HTTP: register, login, tokens, cookies, API keys."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import httpx
import jwt

from graphmill.auth import tokens
from graphmill.auth.users import LOCAL_USER_ID
from tests.conftest import GRAPHMILL_HASHER, LiveServer
from tests.support import Api, add_files, sign_up

AUDIENCE = ["fastapi-users:auth"]
USER_READ_KEYS = {
    "id",
    "email",
    "is_active",
    "is_superuser",
    "is_verified",
    "tenant_id",
    "parent_user_id",
}
UNAUTHORIZED = {"detail": "Unauthorized"}
BAD_CREDENTIALS = {"detail": "LOGIN_BAD_CREDENTIALS"}


def client(base_url: str, **headers: str) -> httpx.Client:
    return httpx.Client(base_url=base_url, timeout=60, headers=headers)


def login(api: httpx.Client, email: str, password: str = "correct horse") -> httpx.Response:
    return api.post("/api/v1/auth/login", data={"username": email, "password": password})


def token_of(api: Api) -> str:
    return api.headers["Authorization"].removeprefix("Bearer ")


def new_key(api: httpx.Client, name: str | None = None) -> dict[str, Any]:
    r = api.post("/api/v1/auth/api-keys", json={"name": name})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def forged_token(user_id: str, secret: str, **claims: Any) -> str:
    payload = {"sub": user_id, "aud": AUDIENCE, "exp": int(time.time()) + 600} | claims
    return jwt.encode(payload, secret, algorithm="HS256")


# --- register ------------------------------------------------------------------------------


def test_register_answers_201_with_exactly_the_user_read_fields(anon: httpx.Client) -> None:
    r = anon.post(
        "/api/v1/auth/register",
        json={"email": "carol@example.com", "password": "pw", "is_superuser": True},
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert set(body) == USER_READ_KEYS
    assert uuid.UUID(body["id"])
    assert body["email"] == "carol@example.com"
    assert body["is_active"] is True
    assert body["is_superuser"] is False  # ignored input, as fastapi-users' safe create
    assert body["is_verified"] is False
    assert body["tenant_id"] is None
    assert body["parent_user_id"] is None


def test_register_twice_is_refused_whatever_the_email_case(anon: httpx.Client) -> None:
    first = anon.post("/api/v1/auth/register", json={"email": "dave@example.com", "password": "a"})
    assert first.status_code == 201
    for email in ("dave@example.com", "Dave@Example.COM"):
        r = anon.post("/api/v1/auth/register", json={"email": email, "password": "b"})
        assert r.status_code == 400
        assert r.json() == {"detail": "REGISTER_USER_ALREADY_EXISTS"}
    # The first password still holds.
    assert login(anon, "dave@example.com", "a").status_code == 200
    assert login(anon, "dave@example.com", "b").json() == BAD_CREDENTIALS


def test_register_with_a_bad_email_gives_the_validation_envelope(anon: httpx.Client) -> None:
    sent = {"email": "not-an-email", "password": "pw"}
    r = anon.post("/api/v1/auth/register", json=sent)
    assert r.status_code == 400
    body = r.json()
    assert set(body) == {"detail", "body"}
    assert isinstance(body["detail"], list) and body["detail"]
    assert body["detail"][0]["loc"] == ["body", "email"]
    assert body["body"] == sent
    missing = anon.post("/api/v1/auth/register", json={"email": "x@example.com"})
    assert missing.status_code == 400
    assert [e["loc"] for e in missing.json()["detail"]] == [["body", "password"]]
    assert login(anon, "x@example.com", "").status_code == 400


# --- login, logout, me -----------------------------------------------------------------------


def test_login_returns_a_bearer_jwt_and_an_http_only_cookie(alice: Api, anon: httpx.Client) -> None:
    assert alice.email is not None
    r = login(anon, alice.email)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"access_token", "token_type"}
    assert body["token_type"] == "bearer"
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"auth_token={body['access_token']};")
    assert "httponly" in cookie.lower()
    assert "path=/" in cookie.lower()
    assert "samesite=lax" in cookie.lower()
    payload = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert payload["sub"] == alice.user_id
    assert payload["aud"] == AUDIENCE
    assert 3500 < payload["exp"] - time.time() <= 3600
    assert jwt.get_unverified_header(body["access_token"])["alg"] == "HS256"


def test_login_failures_all_answer_bad_credentials(alice: Api, anon: httpx.Client) -> None:
    assert alice.email is not None
    attempts: list[dict[str, Any]] = [
        {"data": {"username": alice.email, "password": "wrong"}},
        {"data": {"username": "nobody@example.com", "password": "correct horse"}},
        {"json": {"username": alice.email, "password": "correct horse"}},
        {"data": {"username": alice.email}},
        {"data": {"password": "correct horse"}},
        {"data": {}},
        {"data": {"username": alice.email, "password": "correct horse", "grant_type": "code"}},
    ]
    for attempt in attempts:
        r = anon.post("/api/v1/auth/login", **attempt)
        assert (r.status_code, r.json()) == (400, BAD_CREDENTIALS), attempt
        assert "set-cookie" not in r.headers
    # The right form, with the optional OAuth2 grant type, still works.
    ok = anon.post(
        "/api/v1/auth/login",
        data={"username": alice.email, "password": "correct horse", "grant_type": "password"},
    )
    assert ok.status_code == 200


def test_login_cookie_authenticates_and_logout_deletes_it(alice: Api, anon: httpx.Client) -> None:
    assert alice.email is not None
    assert anon.get("/api/v1/auth/me").status_code == 401
    assert login(anon, alice.email).status_code == 200
    assert "auth_token" in anon.cookies
    assert anon.get("/api/v1/auth/me").json() == {"email": alice.email}
    assert anon.get("/api/v1/users/me").json()["id"] == alice.user_id
    r = anon.post("/api/v1/auth/logout")
    assert r.status_code == 200
    assert r.json() == {}
    deleted = r.headers["set-cookie"].lower()
    assert deleted.startswith("auth_token=")
    assert "max-age=0" in deleted
    assert "auth_token" not in anon.cookies
    assert anon.get("/api/v1/auth/me").status_code == 401


def test_a_stale_bearer_token_does_not_hide_a_valid_login_cookie(
    alice: Api, bob: Api, anon: httpx.Client
) -> None:
    assert alice.email is not None
    assert login(anon, alice.email).status_code == 200
    anon.headers["Authorization"] = "Bearer expired-or-garbled"
    assert anon.get("/api/v1/auth/me").json() == {"email": alice.email}
    # A valid Bearer token comes first.
    anon.headers["Authorization"] = f"Bearer {token_of(bob)}"
    assert anon.get("/api/v1/auth/me").json() == {"email": bob.email}


def test_logout_needs_credentials(anon: httpx.Client) -> None:
    r = anon.post("/api/v1/auth/logout")
    assert (r.status_code, r.json()) == (401, UNAUTHORIZED)


def test_auth_me_returns_only_the_email(alice: Api, bob: Api) -> None:
    assert alice.get("/api/v1/auth/me").json() == {"email": "alice@example.com"}
    assert bob.get("/api/v1/auth/me").json() == {"email": "bob@example.com"}


def test_users_me_returns_the_callers_user_read(alice: Api) -> None:
    r = alice.get("/api/v1/users/me")
    assert r.status_code == 200
    assert r.json() == {
        "id": alice.user_id,
        "email": "alice@example.com",
        "is_active": True,
        "is_superuser": False,
        "is_verified": False,
        "tenant_id": None,
        "parent_user_id": None,
    }


def test_get_user_id_by_email(alice: Api, bob: Api, anon: httpx.Client) -> None:
    r = alice.post("/api/v1/users/get-user-id", json={"email": "bob@example.com"})
    assert r.status_code == 200
    assert r.json() == {"user_id": bob.user_id}
    missing = alice.post("/api/v1/users/get-user-id", json={"email": "ghost@example.com"})
    assert (missing.status_code, missing.json()) == (404, {"detail": "User not found"})
    bad = alice.post("/api/v1/users/get-user-id", json={"email": "not-an-email"})
    assert bad.status_code == 400
    assert bad.json()["body"] == {"email": "not-an-email"}
    anonymous = anon.post("/api/v1/users/get-user-id", json={"email": "bob@example.com"})
    assert (anonymous.status_code, anonymous.json()) == (401, UNAUTHORIZED)


# --- tokens ----------------------------------------------------------------------------------


def test_bearer_token_authenticates_its_own_user(alice: Api, bob: Api) -> None:
    add_files(alice, "mine", [("a.txt", b"alice text")])
    with client(str(alice.base_url), Authorization=f"Bearer {token_of(bob)}") as as_bob:
        assert as_bob.get("/api/v1/auth/me").json() == {"email": "bob@example.com"}
        assert as_bob.get("/api/v1/datasets").json() == []
    with client(str(alice.base_url), Authorization=f"bearer {token_of(alice)}") as as_alice:
        assert [d["name"] for d in as_alice.get("/api/v1/datasets").json()] == ["mine"]


def test_missing_or_invalid_credentials_get_401_on_every_protected_route(
    server: LiveServer, alice: Api
) -> None:
    assert alice.user_id is not None
    some_id = uuid.uuid4()
    routes: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", "/api/v1/auth/me", {}),
        ("POST", "/api/v1/auth/logout", {}),
        ("GET", "/api/v1/auth/api-keys", {}),
        ("POST", "/api/v1/auth/api-keys", {"json": {}}),
        ("DELETE", f"/api/v1/auth/api-keys/{some_id}", {}),
        ("GET", "/api/v1/users/me", {}),
        ("POST", "/api/v1/users/get-user-id", {"json": {"email": "alice@example.com"}}),
        ("GET", "/api/v1/datasets", {}),
        ("GET", "/api/v1/datasets/", {}),
        ("POST", "/api/v1/datasets", {"json": {"name": "x"}}),
        ("DELETE", "/api/v1/datasets", {}),
        ("GET", "/api/v1/datasets/status", {}),
        ("GET", "/api/v1/datasets/graph-summary", {}),
        ("DELETE", f"/api/v1/datasets/{some_id}", {}),
        ("GET", f"/api/v1/datasets/{some_id}/data", {}),
        ("DELETE", f"/api/v1/datasets/{some_id}/data/{some_id}", {}),
        ("GET", f"/api/v1/datasets/{some_id}/data/{some_id}/raw", {}),
        ("GET", f"/api/v1/datasets/{some_id}/graph", {}),
        (
            "POST",
            "/api/v1/add",
            {"files": [("data", ("a.txt", b"x"))], "data": {"datasetName": "x"}},
        ),
        (
            "POST",
            f"/api/v1/permissions/datasets/{some_id}?permission_name=read",
            {"json": [str(some_id)]},
        ),
        (
            "DELETE",
            f"/api/v1/permissions/datasets/{some_id}?permission_name=read",
            {"json": [str(some_id)]},
        ),
    ]
    wrong_secret = forged_token(alice.user_id, "not-the-server-secret-at-all-000")
    credentials: list[tuple[dict[str, str], dict[str, str]]] = [
        ({}, {}),
        ({"Authorization": "Bearer not-a-jwt"}, {}),
        ({"Authorization": f"Bearer {wrong_secret}"}, {}),
        ({"Authorization": f"Basic {token_of(alice)}"}, {}),
        ({"X-Api-Key": "0" * 64}, {}),
        ({}, {"auth_token": "not-a-jwt"}),
        ({}, {"auth_token": wrong_secret}),
    ]
    for n, (headers, cookies) in enumerate(credentials):
        with httpx.Client(
            base_url=server.base_url, timeout=60, headers=headers, cookies=cookies
        ) as c:
            # Every route without credentials; each kind of bad credential on a few routes.
            for method, path, kwargs in routes if n == 0 else routes[::5]:
                r = c.request(method, path, **kwargs)
                assert (r.status_code, r.json()) == (401, UNAUTHORIZED), (headers, method, path)
                assert r.headers["www-authenticate"] == "Bearer"
    assert alice.get("/api/v1/datasets").json() == []


def test_tokens_signed_with_the_generated_secret_are_the_only_ones_accepted(
    server: LiveServer, alice: Api
) -> None:
    assert alice.user_id is not None
    secret_file = server.settings.data_dir / "jwt_secret"
    secret = secret_file.read_text().strip()
    assert len(secret) >= 32
    assert secret_file.stat().st_mode & 0o077 == 0
    ok = forged_token(alice.user_id, secret)
    wrong_audience = forged_token(alice.user_id, secret, aud=["someone-else"])
    expired = forged_token(alice.user_id, secret, exp=int(time.time()) - 10)
    unknown_user = forged_token(str(uuid.uuid4()), secret)
    no_subject = jwt.encode({"aud": AUDIENCE, "exp": int(time.time()) + 600}, secret)
    unsigned = jwt.encode(
        {"sub": alice.user_id, "aud": AUDIENCE, "exp": int(time.time()) + 600},
        "",
        algorithm="none",
    )
    other_algorithm = jwt.encode(
        {"sub": alice.user_id, "aud": AUDIENCE, "exp": int(time.time()) + 600},
        secret,
        algorithm="HS512",
    )
    with client(server.base_url, Authorization=f"Bearer {ok}") as c:
        assert c.get("/api/v1/auth/me").json() == {"email": "alice@example.com"}
    for token in (wrong_audience, expired, unknown_user, no_subject, unsigned, other_algorithm):
        with client(server.base_url, Authorization=f"Bearer {token}") as c:
            assert c.get("/api/v1/auth/me").status_code == 401


def test_configured_jwt_secret_is_used_and_nothing_is_generated(settings_factory: Any) -> None:
    secret = "a-configured-secret-of-enough-length"
    settings = settings_factory(jwt_secret=secret)
    with LiveServer(settings) as live:
        api = sign_up(live.base_url)
        try:
            payload = jwt.decode(token_of(api), secret, algorithms=["HS256"], audience=AUDIENCE)
            assert payload["sub"] == api.user_id
            assert api.get("/api/v1/auth/me").status_code == 200
        finally:
            api.close()
    assert not (settings.data_dir / "jwt_secret").exists()


def test_generated_secret_survives_a_restart_on_the_same_data_dir(settings_factory: Any) -> None:
    settings = settings_factory()
    assert settings.jwt_secret is None
    with LiveServer(settings) as first:
        api = sign_up(first.base_url, "erin@example.com")
        token = token_of(api)
        api.close()
    secret = (settings.data_dir / "jwt_secret").read_text()
    with LiveServer(settings) as second:
        assert second.port != first.port
        with client(second.base_url, Authorization=f"Bearer {token}") as c:
            r = c.get("/api/v1/auth/me")
            assert (r.status_code, r.json()) == (200, {"email": "erin@example.com"})
    assert (settings.data_dir / "jwt_secret").read_text() == secret


def test_two_data_dirs_get_different_secrets(settings_factory: Any, tmp_path: Any) -> None:
    secrets = []
    for name in ("one", "two"):
        settings = settings_factory(data_dir=tmp_path / name)
        with LiveServer(settings):
            pass
        secrets.append((settings.data_dir / "jwt_secret").read_text())
    assert secrets[0] != secrets[1]


# --- API keys --------------------------------------------------------------------------------


def test_create_api_key_shows_the_raw_key_once(alice: Api) -> None:
    created = new_key(alice, "ci")
    assert set(created) == {"key", "label", "name", "id"}
    assert re.fullmatch(r"[0-9a-f]{64}", created["key"])
    assert created["label"] == created["key"][:8] + "****"
    assert created["name"] == "ci"
    assert uuid.UUID(created["id"])
    unnamed = alice.post("/api/v1/auth/api-keys", json={})
    assert unnamed.status_code == 200
    assert unnamed.json()["name"] is None
    assert unnamed.json()["key"] != created["key"]
    listed = alice.get("/api/v1/auth/api-keys")
    assert listed.status_code == 200
    assert created["key"] not in listed.text
    assert unnamed.json()["key"] not in listed.text
    by_id = {k["id"]: k for k in listed.json()}
    assert set(by_id) == {created["id"], unnamed.json()["id"]}
    assert set(by_id[created["id"]]) == {"key", "label", "name", "id"}
    assert by_id[created["id"]]["label"] == created["label"]
    assert by_id[created["id"]]["name"] == "ci"


def test_create_api_key_needs_a_body(alice: Api) -> None:
    r = alice.post("/api/v1/auth/api-keys")
    assert r.status_code == 400
    assert set(r.json()) == {"detail", "body"}
    assert alice.get("/api/v1/auth/api-keys").json() == []


def test_api_key_authenticates_as_its_owner_via_x_api_key(alice: Api, bob: Api) -> None:
    add_files(alice, "keyed", [("a.txt", b"alice")])
    key = new_key(alice)["key"]
    with client(str(alice.base_url), **{"X-Api-Key": key}) as c:
        assert c.get("/api/v1/auth/me").json() == {"email": "alice@example.com"}
        assert [d["name"] for d in c.get("/api/v1/datasets").json()] == ["keyed"]
        assert add_files(c, "keyed", [("b.txt", b"by key")]).status_code == 200
    assert bob.get("/api/v1/auth/api-keys").json() == []


def test_api_key_sent_as_bearer_is_rejected(alice: Api) -> None:
    key = new_key(alice)["key"]
    with client(str(alice.base_url), Authorization=f"Bearer {key}") as c:
        r = c.get("/api/v1/auth/me")
        assert (r.status_code, r.json()) == (401, UNAUTHORIZED)


def test_deleted_api_key_stops_working(alice: Api) -> None:
    keep, drop = new_key(alice, "keep"), new_key(alice, "drop")
    r = alice.delete(f"/api/v1/auth/api-keys/{drop['id']}")
    assert r.status_code == 200
    assert r.json() is None
    assert [k["id"] for k in alice.get("/api/v1/auth/api-keys").json()] == [keep["id"]]
    with client(str(alice.base_url), **{"X-Api-Key": drop["key"]}) as c:
        r = c.get("/api/v1/auth/me")
        assert (r.status_code, r.json()) == (401, UNAUTHORIZED)
    with client(str(alice.base_url), **{"X-Api-Key": keep["key"]}) as c:
        assert c.get("/api/v1/auth/me").status_code == 200
    again = alice.delete(f"/api/v1/auth/api-keys/{drop['id']}")
    assert again.status_code == 404


def test_someone_elses_or_an_unknown_api_key_cannot_be_deleted(alice: Api, bob: Api) -> None:
    key = new_key(alice)
    foreign = bob.delete(f"/api/v1/auth/api-keys/{key['id']}")
    unknown = bob.delete(f"/api/v1/auth/api-keys/{uuid.uuid4()}")
    assert foreign.status_code == unknown.status_code == 404
    assert foreign.content == unknown.content
    assert foreign.json() == {"detail": "API key not found. [ApiKeyNotFoundError]"}
    assert [k["id"] for k in alice.get("/api/v1/auth/api-keys").json()] == [key["id"]]
    with client(str(alice.base_url), **{"X-Api-Key": key["key"]}) as c:
        assert c.get("/api/v1/auth/me").status_code == 200
    malformed = alice.delete("/api/v1/auth/api-keys/not-a-uuid")
    assert malformed.status_code == 400


def test_api_key_limit_per_user(settings_factory: Any) -> None:
    with LiveServer(settings_factory(max_api_keys=2)) as live:
        alice, bob = sign_up(live.base_url), sign_up(live.base_url)
        try:
            first, _ = new_key(alice), new_key(alice)
            r = alice.post("/api/v1/auth/api-keys", json={"name": "third"})
            assert r.status_code == 400
            assert r.json() == {
                "error": {"message": "You have reached the maximum number of API keys."}
            }
            assert len(alice.get("/api/v1/auth/api-keys").json()) == 2
            new_key(bob)  # the limit is per user
            assert alice.delete(f"/api/v1/auth/api-keys/{first['id']}").status_code == 200
            new_key(alice, "third")
            assert len(alice.get("/api/v1/auth/api-keys").json()) == 2
        finally:
            alice.close()
            bob.close()


# --- REQUIRE_AUTHENTICATION=false ----------------------------------------------------------


def test_without_required_authentication_anonymous_requests_act_as_the_local_user(
    settings_factory: Any,
) -> None:
    with (
        LiveServer(settings_factory(require_authentication=False)) as live,
        client(live.base_url) as anon,
    ):
        added = add_files(anon, "local_ds", [("a.txt", b"local bytes")])
        assert added.status_code == 200, added.text
        dataset_id = added.json()["dataset_id"]
        [listed] = anon.get("/api/v1/datasets").json()
        assert listed["id"] == dataset_id
        assert listed["name"] == "local_ds"
        assert listed["ownerId"] == str(LOCAL_USER_ID)
        items = anon.get(f"/api/v1/datasets/{dataset_id}/data").json()
        raw = anon.get(f"/api/v1/datasets/{dataset_id}/data/{items[0]['id']}/raw")
        assert raw.content == b"local bytes"

        # A registered user with a token is still themselves, not the local user.
        api = sign_up(live.base_url)
        try:
            assert api.get("/api/v1/datasets").json() == []
            assert api.get("/api/v1/users/me").json()["email"] == api.email
        finally:
            api.close()

        # /users/me answers the local user, so cognee's frontend needs no login (issue 10).
        r = anon.get("/api/v1/users/me")
        assert r.status_code == 200 and r.json()["id"] == str(LOCAL_USER_ID)


def test_without_required_authentication_a_presented_invalid_credential_is_401(
    settings_factory: Any,
) -> None:
    # Issue 9, defect 4: an expired token must not act as the local user, whose datasets
    # every anonymous caller sees.
    settings = settings_factory(require_authentication=False)
    with LiveServer(settings) as live, client(live.base_url) as anon:
        api = sign_up(live.base_url)
        try:
            assert api.user_id is not None
            secret = (settings.data_dir / "jwt_secret").read_text().strip()
            expired = forged_token(api.user_id, secret, exp=int(time.time()) - 10)
            key = new_key(api)["key"]
            revoked = new_key(api)
            assert api.delete(f"/api/v1/auth/api-keys/{revoked['id']}").status_code == 200
        finally:
            api.close()
        presented: list[dict[str, str]] = [
            {"Authorization": f"Bearer {expired}"},
            {"Authorization": "Bearer garbage"},
            {"Cookie": f"{settings.auth_cookie_name}=garbage"},
            {"X-Api-Key": "not-a-key"},
            {"X-Api-Key": revoked["key"]},
        ]
        for headers in presented:
            with client(live.base_url, **headers) as c:
                for r in (
                    c.get("/api/v1/datasets"),
                    c.get("/api/v1/auth/me"),
                    c.post("/api/v1/datasets", json={"name": "stolen"}),
                ):
                    assert (r.status_code, r.json()) == (401, UNAUTHORIZED), headers
        # No dataset was created for the local user by any of them.
        assert anon.get("/api/v1/datasets").json() == []
        # A valid credential beside an invalid one still counts, as with authentication on.
        with client(live.base_url, Authorization="Bearer garbage") as c:
            c.headers["X-Api-Key"] = key
            assert c.get("/api/v1/auth/me").status_code == 200


def test_the_local_user_cannot_log_in(settings_factory: Any) -> None:
    with (
        LiveServer(settings_factory(require_authentication=False)) as live,
        client(live.base_url) as anon,
    ):
        email = anon.get("/api/v1/auth/me").json()["email"]
        for password in ("", "default_password", "password", "local", email):
            r = login(anon, email, password)
            assert (r.status_code, r.json()) == (400, BAD_CREDENTIALS), password
        # Nobody can claim the local user's address to give it a password.
        taken = anon.post("/api/v1/auth/register", json={"email": email, "password": "pw"})
        assert taken.status_code == 400
        assert login(anon, email, "pw").json() == BAD_CREDENTIALS


def test_the_local_user_does_not_exist_when_authentication_is_required(
    alice: Api, anon: httpx.Client
) -> None:
    r = anon.get("/api/v1/datasets")
    assert (r.status_code, r.json()) == (401, UNAUTHORIZED)
    # Granting to the local user's well-known id finds no such principal.
    dataset_id = add_files(alice, "ds", [("a.txt", b"a")]).json()["dataset_id"]
    r = alice.post(
        f"/api/v1/permissions/datasets/{LOCAL_USER_ID}?permission_name=read", json=[dataset_id]
    )
    assert (r.status_code, r.json()) == (404, {"detail": "User not found"})


def test_token_reader_remembers_verdicts_only_until_expiry() -> None:
    secret = "s" * 40
    reader = tokens.TokenReader(secret)
    user_id = uuid.uuid4()
    token = tokens.issue_token(user_id, secret, 1)
    assert reader.read(token) == user_id
    assert reader.read(token) == user_id  # from memory
    forged = jwt.encode({"sub": str(user_id), "aud": tokens.AUDIENCE, "exp": 2**40}, "x" * 40)
    assert reader.read(forged) is None
    assert tokens.TokenReader("t" * 40).read(token) is None  # another secret
    time.sleep(1.2)  # past its expiry: checked again, and refused
    assert reader.read(token) is None


def test_the_dummy_hash_has_the_hasher_s_cost() -> None:
    """Unknown users must cost a login as much as wrong passwords: same parameters. (The
    tests' own servers hash cheaply, tests/conftest.py; graphmill's hasher is the default.)"""
    from argon2 import PasswordHasher, extract_parameters

    default = extract_parameters(PasswordHasher().hash("x"))
    assert extract_parameters(tokens._DUMMY_HASH) == default
    assert extract_parameters(GRAPHMILL_HASHER.hash("x")) == default
    assert not tokens.verify_password("anything", None)
