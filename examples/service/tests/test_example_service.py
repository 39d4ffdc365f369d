import pytest
from app.main import create_app, load_settings, parse_origins
from fastapi.testclient import TestClient


@pytest.fixture
def client(tmp_path):
    settings = load_settings(
        {
            "APP_ENV": "staging",
            "APP_VERSION": "1.2.3",
            "ALLOWED_ORIGINS": " https://a.example , ,https://b.example,",
            "DATA_DIR": str(tmp_path / "data"),
        }
    )
    with TestClient(create_app(settings)) as c:
        yield c


def test_defaults():
    s = load_settings({})
    assert (s.app_env, s.app_version, s.allowed_origins) == ("local", "dev", [])
    assert str(s.cache_path) == "/data/cache.sqlite3"


@pytest.mark.parametrize(
    "raw, expected",
    [(None, []), ("", []), (" , ", []), ("a", ["a"]), (" a , b ,, c ", ["a", "b", "c"])],
)
def test_parse_origins(raw, expected):
    assert parse_origins(raw) == expected


@pytest.mark.parametrize("path", ["/health", "/api/health"])
def test_health(client, path):
    r = client.get(path)
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "env": "staging", "version": "1.2.3"}


def test_root(client):
    r = client.get("/")
    assert r.status_code == 200
    assert r.json() == {
        "env": "staging",
        "version": "1.2.3",
        "allowed_origins": ["https://a.example", "https://b.example"],
    }


def test_cors_allowed_origin(client):
    r = client.get("/health", headers={"Origin": "https://a.example"})
    assert r.headers.get("access-control-allow-origin") == "https://a.example"
    r = client.get("/health", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in r.headers


def test_cache_roundtrip_and_persistence(tmp_path, client):
    assert client.get("/api/cache/greeting").status_code == 404
    r = client.post("/api/cache/greeting", content=b"hello volume")
    assert r.status_code == 200
    assert client.get("/api/cache/greeting").text == "hello volume"
    client.post("/api/cache/greeting", content=b"overwritten")
    assert client.get("/api/cache/greeting").text == "overwritten"
    assert (tmp_path / "data" / "cache.sqlite3").is_file()

    # A new app instance on the same DATA_DIR (a "rollout") still sees the data.
    settings = load_settings({"DATA_DIR": str(tmp_path / "data")})
    with TestClient(create_app(settings)) as other:
        assert other.get("/api/cache/greeting").text == "overwritten"
