import pytest

from config.env import ConfigError, env_bool, env_int, env_list, env_secret, env_str, load_dotenv


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for name in ("THING", "PARLOR_THING", "THING_FILE", "PARLOR_THING_FILE"):
        monkeypatch.delenv(name, raising=False)


def test_the_prefixed_name_wins(monkeypatch):
    monkeypatch.setenv("THING", "plain")
    assert env_str("THING") == "plain"
    monkeypatch.setenv("PARLOR_THING", "prefixed")
    assert env_str("THING") == "prefixed"


@pytest.mark.parametrize(("raw", "value"), [("True", True), ("False", False), ("", None)])
def test_booleans_are_strict(monkeypatch, raw, value):
    monkeypatch.setenv("THING", raw)
    assert env_bool("THING", default=None) is value  # type: ignore[arg-type]


@pytest.mark.parametrize("raw", ["yes", "on", "ture", "2", "1", "0", "true", "false", "TRUE"])
def test_anything_else_is_an_error_not_a_guess(monkeypatch, raw):
    monkeypatch.setenv("THING", raw)
    with pytest.raises(ConfigError, match="THING must be True or False"):
        env_bool("THING")


def test_integers_fail_loudly(monkeypatch):
    monkeypatch.setenv("THING", "ten")
    with pytest.raises(ConfigError, match="integer"):
        env_int("THING", 1)
    monkeypatch.setenv("THING", "10")
    assert env_int("THING", 1) == 10


def test_lists_are_comma_separated(monkeypatch):
    monkeypatch.setenv("THING", " a.example, b.example ,")
    assert env_list("THING") == ["a.example", "b.example"]


def test_a_secret_can_come_from_a_file(monkeypatch, tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("sk-from-file\n")
    monkeypatch.setenv("PARLOR_THING_FILE", str(secret))
    assert env_secret("THING") == "sk-from-file"
    monkeypatch.setenv("THING", "sk-direct")
    assert env_secret("THING") == "sk-direct"


def test_an_unreadable_secret_file_is_an_error(monkeypatch, tmp_path):
    monkeypatch.setenv("THING_FILE", str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="THING_FILE"):
        env_secret("THING")


def test_dotenv_fills_what_the_environment_lacks(monkeypatch, tmp_path):
    dotenv = tmp_path / ".env"
    dotenv.write_text("# comment\nTHING='from file'\nexport PARLOR_THING_FILE=/x\n")
    load_dotenv(dotenv)
    assert env_str("THING") == "from file"
    monkeypatch.setenv("THING", "from env")
    load_dotenv(dotenv)
    assert env_str("THING") == "from env"
