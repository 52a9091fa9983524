"""Token and session auth, the OpenAPI schema and the docs pages (assets served locally)."""

from __future__ import annotations

from rest_framework.test import APIClient

from tests.helpers.accounts import PASSWORD

EVERY_PATH = [
    "/api/projects/", "/api/projects/{slug}/", "/api/projects/{slug}/classes/", "/api/projects/{slug}/images/",
    "/api/projects/{slug}/images/{image_id}/", "/api/projects/{slug}/images/{image_id}/file/",
    "/api/projects/{slug}/images/{image_id}/thumbnail/", "/api/projects/{slug}/images/next/", "/api/projects/{slug}/annotations/",
    "/api/projects/{slug}/pseudo-labels/", "/api/projects/{slug}/versions/", "/api/projects/{slug}/versions/{number}/",
    "/api/projects/{slug}/versions/{number}/predictions/", "/api/projects/{slug}/exports/labels/",
    "/api/projects/{slug}/exports/model/", "/api/projects/{slug}/training/start/", "/api/projects/{slug}/training/stop/",
    "/api/token/",
]


def test_a_user_gets_a_token_with_their_password_and_uses_it(project, owner, other_project) -> None:
    client = APIClient()
    response = client.post("/api/token/", {"username": owner.username, "password": PASSWORD}, format="json")
    assert response.status_code == 200
    client.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    listing = client.get("/api/projects/").json()
    assert [p["slug"] for p in listing["results"]] == ["clothes"]
    assert listing["results"][0]["role"] == "owner"


def test_a_wrong_password_gets_no_token(owner) -> None:
    response = APIClient().post("/api/token/", {"username": owner.username, "password": "nope"}, format="json")
    assert response.status_code == 400
    assert response.json() == {"non_field_errors": ["Unable to log in with provided credentials."]}


def test_a_bad_token_and_no_credentials_get_401_with_a_token_challenge(project) -> None:
    client = APIClient()
    anonymous = client.get("/api/projects/")
    assert anonymous.status_code == 401 and anonymous["WWW-Authenticate"] == "Token"
    client.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    response = client.get("/api/projects/clothes/")
    assert response.status_code == 401 and response.json() == {"detail": "Invalid token."}


def test_session_login_works_for_the_api(project, annotator_client) -> None:
    response = annotator_client.get("/api/projects/clothes/")
    assert response.status_code == 200 and response.json()["role"] == "annotator"


def test_schema_describes_every_endpoint(db) -> None:
    response = APIClient().get("/api/schema/?format=json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert sorted(schema["paths"]) == sorted(EVERY_PATH)
    assert {"tokenAuth", "cookieAuth"} <= set(schema["components"]["securitySchemes"])


def test_docs_page_loads_its_assets_from_this_server(db) -> None:
    page = APIClient().get("/api/docs/").content.decode()
    assert "/static/drf_spectacular_sidecar/" in page
    for cdn in ("cdn.jsdelivr", "unpkg.com", "cdnjs", "googleapis"):
        assert cdn not in page
