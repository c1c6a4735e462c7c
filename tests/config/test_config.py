"""The configuration file: where it is found, ${VAR}, and every problem with its position."""

from __future__ import annotations

from pathlib import Path

import pytest

from opsconsole.config.locate import ConfigNotFound, find_config
from opsconsole.config.model import load_config
from opsconsole.documents.problems import ProblemsFound

EXAMPLE = Path(__file__).parent.parent.parent / "examples" / "opsconsole.toml"

MINIMAL = """\
[[services]]
name = "api"
health_url = "http://127.0.0.1:8001/health"
"""


def write(directory: Path, text: str, name: str = "opsconsole.toml") -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def problems_of(path: Path, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ProblemsFound) as raised:
        load_config(path, env={} if env is None else env)
    return [f"{p.line}:{p.col}: {p.message}" for p in raised.value.problems]


# -- lookup ------------------------------------------------------------------------


def test_lookup_order_flag_then_env_then_cwd_then_xdg(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    flag = write(tmp_path / "flag", MINIMAL)
    from_env = write(tmp_path / "env", MINIMAL)
    local = write(tmp_path, MINIMAL)
    xdg = write(tmp_path / "xdg" / "opsconsole", MINIMAL)
    env = {"OPSCONSOLE_CONFIG": str(from_env), "XDG_CONFIG_HOME": str(tmp_path / "xdg")}

    assert find_config(flag, env) == flag
    assert find_config(None, env) == from_env
    assert find_config(None, {"XDG_CONFIG_HOME": env["XDG_CONFIG_HOME"]}).resolve() == local
    local.unlink()
    assert find_config(None, {"XDG_CONFIG_HOME": env["XDG_CONFIG_HOME"]}) == xdg


def test_no_config_anywhere_names_every_place_looked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigNotFound) as raised:
        find_config(None, {"XDG_CONFIG_HOME": str(tmp_path / "xdg")})
    assert "opsconsole.toml" in str(raised.value)
    assert str(tmp_path / "xdg" / "opsconsole" / "opsconsole.toml") in str(raised.value)


# -- values ------------------------------------------------------------------------


def test_shipped_example_loads_with_its_secret_from_the_environment() -> None:
    loaded = load_config(EXAMPLE, env={"PGPASSWORD": "hunter2"})
    config = loaded.config
    assert [s.name for s in config.services] == ["nl-fhir", "hapi-fhir", "nginx"]
    assert config.postgres is not None
    assert config.postgres.dsn.get_secret_value().endswith(":hunter2@127.0.0.1:5432/app")
    assert "hunter2" not in repr(config)  # a stray log line cannot leak it
    assert config.health_timeout(config.services[1]) == 5.0
    assert config.health_timeout(config.services[0]) == 2.0


def test_defaults_follow_the_runbooks_slas(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL), env={}).config
    assert config.thresholds.p95_seconds == 2.0
    assert config.thresholds.error_rate == 0.01
    assert config.console.refresh_seconds == 2.0
    assert config.prometheus is None
    assert config.postgres is None


def test_missing_environment_variable_is_named_at_its_value(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + '\n[postgres]\ndsn = "postgresql://u:${PGPASSWORD}@h/db"\n')
    assert problems_of(path) == ["6:7: postgres.dsn: environment variable PGPASSWORD is not set"]


def test_doubled_dollar_keeps_a_literal(tmp_path: Path) -> None:
    path = write(tmp_path, '[console]\nenvironment = "$${NOT_A_VAR}"\n' + MINIMAL)
    assert load_config(path, env={}).config.console.environment == "${NOT_A_VAR}"


# -- problems, each at its place ---------------------------------------------------


def test_every_problem_is_reported_at_once_with_line_and_column(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
[console]
refresh_secnds = 2
environment = 7

[[services]]
name = "api"
health_url = "ftp://example/health"

[[services]]
health_url = "http://127.0.0.1:1/health"

[[services]]
name = "api"
health_url = "http://127.0.0.1:2/health"
""",
    )
    assert problems_of(path) == [
        "2:1: unknown key 'console.refresh_secnds' (did you mean 'refresh_seconds'?)",
        "3:15: console.environment: wrong type: should be a valid string, found an integer",
        "7:14: services[0].health_url: should be a URL starting with http:// or https://",
        "9:1: missing required key 'services[1].name'",
    ]


def test_the_data_volume_and_its_limit_are_checked(tmp_path: Path) -> None:
    """[postgres] data_dir is a path, disk_percent a share under 100 (85 by default)."""
    section = '\n[postgres]\ndsn = "postgresql://u@h/db"\n'
    path = write(tmp_path, MINIMAL + section + 'data_dir = "/srv/pg"\n')
    loaded = load_config(path, env={}).config.postgres
    assert loaded is not None
    assert (loaded.data_dir, loaded.disk_percent) == ("/srv/pg", 85.0)
    path = write(tmp_path, MINIMAL + section + "data_dir = 5\ndisk_percent = 100\ndisk_pct = 9\n")
    assert problems_of(path) == [
        "7:12: postgres.data_dir: wrong type: should be a valid string, found an integer",
        "8:16: postgres.disk_percent: should be less than 100",
        "9:1: unknown key 'postgres.disk_pct' (did you mean 'disk_percent'?)",
    ]


def test_cross_checks_run_once_the_structure_is_valid(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + MINIMAL)
    assert problems_of(path) == ["5:8: duplicate service name 'api' (first at services[0])"]


def test_a_docker_section_that_watches_nothing_is_a_mistake(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + '\n[docker]\nbase_url = "unix:///var/run/docker.sock"\n')
    assert problems_of(path) == [
        "5:1: [docker] watches nothing: give a service or [postgres] a container,"
        " or set [docker] label"
    ]


def test_services_are_required(tmp_path: Path) -> None:
    path = write(tmp_path, '[console]\nenvironment = "staging"\n')
    assert problems_of(path) == ["1:1: missing required key 'services'"]


def test_toml_syntax_error_has_its_position(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + 'container = "unterminated\n')
    (problem,) = problems_of(path)
    assert problem.startswith("4:")
    assert "TOML syntax error" in problem


def test_problems_never_quote_a_secret(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + '\n[postgres]\ndsn = "mysql://u:hunter2@h/db"\n')
    (problem,) = problems_of(path)
    assert "should be a URL starting with postgresql://" in problem
    assert "hunter2" not in problem


def test_problem_columns_count_characters_not_bytes(tmp_path: Path) -> None:
    path = write(tmp_path, '[console]\nenvironment = "prod-ü"\nrefresh_seconds = "2"\n' + MINIMAL)
    assert problems_of(path)[0].startswith("3:19: console.refresh_seconds:")
    path = write(tmp_path, '[console]\n"ünknown" = 1\n' + MINIMAL)
    assert problems_of(path)[0].startswith("2:1: unknown key 'console.ünknown'")


def test_hosts_are_checked_against_the_services_that_run_on_them(tmp_path: Path) -> None:
    service = MINIMAL + 'host = "app9"\ncontainer = "api"\n'
    hosts = (
        '[[hosts]]\nname = "postgres"\nssh = "ops@db1"\n'
        '[[hosts]]\nname = "app2"\nssh = "ops@app2"\n'
    )
    # An ssh destination is never an option.
    injected = write(
        tmp_path, service + hosts + '[[hosts]]\nname = "x"\nssh = "-oProxyCommand=id"\n'
    )
    assert problems_of(injected) == [
        "14:7: hosts[2].ssh: String should match pattern '^[A-Za-z0-9_][A-Za-z0-9_.@-]*$'"
    ]
    assert problems_of(write(tmp_path, service + hosts)) == [
        "4:8: no [[hosts]] entry named 'app9' (hosts: postgres, app2)",
        "6:1: host 'postgres' runs no service's container: its Docker engine has nothing to"
        ' watch (docker = false, or give a service host = "postgres")',
        "7:8: host name 'postgres' is a service's or a backend's: give the host another",
        "9:1: host 'app2' runs no service's container: its Docker engine has nothing to watch"
        ' (docker = false, or give a service host = "app2")',
    ]


def test_a_compose_file_read_on_a_host_is_given_as_its_absolute_path(tmp_path: Path) -> None:
    host = '[[hosts]]\nname = "app1"\nssh = "ops@app1"\n'
    for given in ("~/app/docker-compose.yml", "docker-compose.yml"):
        service = MINIMAL + f'host = "app1"\ncontainer = "api"\ncompose_file = "{given}"\n'
        assert problems_of(write(tmp_path, service + host)) == [
            "6:16: compose_file of api is read on app1: give its absolute path there"
        ]
    absolute = MINIMAL + 'host = "app1"\ncontainer = "api"\ncompose_file = "/srv/app/c.yml"\n'
    assert load_config(write(tmp_path, absolute + host)).config.services[0].host == "app1"
