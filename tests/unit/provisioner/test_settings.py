"""Settings: defaults < settings file < MLSTACK_* environment < command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from provisioner import cli
from provisioner.errors import ConfigError
from provisioner.settings import REPO_ROOT, Settings, env_name, load_settings


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def empty(tmp_path: Path) -> Path:
    return write(tmp_path / "empty.yml", "")


def cli_values(argv: list[str]) -> dict:
    values = vars(cli.build_parser().parse_args(argv))
    values.pop("settings", None)
    return values


def test_defaults(tmp_path):
    settings = load_settings({}, env={}, settings_file=empty(tmp_path))
    assert settings == Settings()
    assert settings.provider == "local", "make up works without a cloud"
    assert settings.prefix == "mlstack" and settings.configure is True
    assert settings.workers is None, "no --workers keeps the worker machines that exist"
    assert settings.extra_vars == () and settings.offline is None and settings.dataset_file is None
    assert settings.inventory_dir == REPO_ROOT / "inventory"
    assert settings.state_dir == REPO_ROOT / ".state"
    assert settings.keypair_name == "mlstack-key"
    assert settings.server_name("prodserver") == "mlstack-prodserver"


def test_each_layer_overrides_the_one_below(tmp_path):
    file = write(
        tmp_path / "mlstack.yml", "flavor: from-file\nimage: file-image\nprefix: fileprefix\nworkers: 1\n"
    )
    env = {"MLSTACK_FLAVOR": "from-env", "MLSTACK_IMAGE": "env-image", "MLSTACK_WORKERS": "2"}
    cli_given = cli_values(["--flavor", "from-cli", "--workers", "3"])

    settings = load_settings(cli_given, env=env, settings_file=file)

    assert settings.flavor == "from-cli"  # CLI > env > file
    assert settings.workers == 3
    assert settings.image == "env-image"  # env > file
    assert settings.prefix == "fileprefix"  # file > default
    assert settings.cloud is None  # default


def test_options_not_given_do_not_mask_lower_layers(tmp_path):
    """argparse leaves absent options out, so a default never overrides the environment."""
    settings = load_settings(
        cli_values([]), env={"MLSTACK_PROVIDER": "openstack"}, settings_file=empty(tmp_path)
    )
    assert settings.provider == "openstack"
    settings = load_settings(
        cli_values(["--no-configure"]), env={"MLSTACK_CONFIGURE": "true"}, settings_file=None
    )
    assert settings.configure is False


def test_settings_file_comes_from_mlstack_settings(tmp_path):
    file = write(tmp_path / "other.yml", "cloud: mycloud\n")
    assert load_settings({}, env={"MLSTACK_SETTINGS": str(file)}).cloud == "mycloud"
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings({}, env={"MLSTACK_SETTINGS": str(tmp_path / "missing.yml")})


def test_types_from_strings(tmp_path):
    env = {
        "MLSTACK_DEVSERVER_FLOATING_IP": "yes",
        "MLSTACK_CONFIGURE": "0",
        "MLSTACK_SSH_TIMEOUT": "12.5",
        "MLSTACK_STATE_DIR": "relative/state",
        "MLSTACK_NETWORK": "",
    }
    settings = load_settings({}, env=env, settings_file=empty(tmp_path))
    assert settings.devserver_floating_ip is True
    assert settings.configure is False
    assert settings.ssh_timeout == 12.5
    assert settings.state_dir == Path.cwd() / "relative/state"
    assert settings.network is None


def test_relative_paths_in_the_file_are_relative_to_the_file(tmp_path):
    (tmp_path / "conf").mkdir()
    file = write(tmp_path / "conf" / "mlstack.yml", "public_key: k.pub\n")
    assert load_settings({}, env={}, settings_file=file).public_key == tmp_path / "conf" / "k.pub"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("flavour: m1.small\n", "unknown setting 'flavour'"),
        ("destroy: true\n", "command-line option only"),
        ("workers: many\n", "bad value 'many' for workers"),
        ("- a list\n", "must be a mapping"),
        ("prefix: Bad_Prefix\n", "bad prefix"),
        ("allowed_cidr: 10.0.0.0/33\n", "bad allowed_cidr"),
        ("provider: aws\n", "unknown provider"),
    ],
)
def test_bad_settings_file_values(tmp_path, text, message):
    file = write(tmp_path / "mlstack.yml", text)
    with pytest.raises(ConfigError, match=message):
        load_settings({}, env={}, settings_file=file)


def test_unknown_setting_suggests_the_close_name(tmp_path):
    file = write(tmp_path / "mlstack.yml", "flavour: m1.small\n")
    with pytest.raises(ConfigError) as failure:
        load_settings({}, env={}, settings_file=file)
    assert "flavor" in failure.value.hint


def test_actions_are_command_line_only(tmp_path):
    env = {"MLSTACK_DESTROY": "1", "MLSTACK_DRY_RUN": "1", "MLSTACK_STATUS": "1"}
    settings = load_settings({}, env=env, settings_file=empty(tmp_path))
    assert (settings.destroy, settings.dry_run, settings.status) == (False, False, False)
    assert load_settings(cli_values(["--destroy"]), env={}, settings_file=empty(tmp_path)).destroy is True


def test_every_setting_has_an_environment_variable_in_help():
    text = cli.build_parser().format_help()
    for name in Settings.__dataclass_fields__:
        if name not in ("destroy", "status", "dry_run"):
            assert env_name(name) in text, name


def test_workers_unset_zero_and_numbers_from_every_layer(tmp_path):
    assert load_settings({}, env={"MLSTACK_WORKERS": ""}, settings_file=empty(tmp_path)).workers is None
    assert load_settings({}, env={"MLSTACK_WORKERS": "0"}, settings_file=empty(tmp_path)).workers == 0
    assert load_settings({}, env={}, settings_file=write(tmp_path / "w.yml", "workers: 0\n")).workers == 0
    assert load_settings(cli_values(["--workers", "0"]), env={"MLSTACK_WORKERS": "3"}).workers == 0
    with pytest.raises(ConfigError, match="workers must be 0 or more"):
        load_settings(cli_values(["--workers", "-1"]), env={}, settings_file=empty(tmp_path))


def test_extra_vars_files_from_the_file_and_the_environment_then_the_command_line(tmp_path, monkeypatch):
    (tmp_path / "conf").mkdir()
    file = write(tmp_path / "conf" / "mlstack.yml", "extra_vars: [site.yml, '@/abs/other.yml']\n")
    assert load_settings({}, env={}, settings_file=file).extra_vars == (
        f"@{tmp_path / 'conf' / 'site.yml'}",
        "@/abs/other.yml",
    ), "relative to the file; a leading @ is accepted"
    single = write(tmp_path / "single.yml", "extra_vars: one.yml\n")
    assert load_settings({}, env={}, settings_file=single).extra_vars == (f"@{tmp_path / 'one.yml'}",)

    monkeypatch.chdir(tmp_path)
    env = {"MLSTACK_EXTRA_VARS": "env-a.yml:/abs/env-b.yml:"}
    from_env = load_settings({}, env=env, settings_file=file)
    assert from_env.extra_vars == (f"@{tmp_path / 'env-a.yml'}", "@/abs/env-b.yml"), "env replaces the file"

    given = cli_values(["-e", "@cli.yml", "--extra-vars", "a=1 b=2", "-e", '{"c": 3}'])
    settings = load_settings(given, env=env, settings_file=file)
    assert settings.extra_vars == (
        f"@{tmp_path / 'env-a.yml'}",
        "@/abs/env-b.yml",
        f"@{tmp_path / 'cli.yml'}",
        "a=1 b=2",
        '{"c": 3}',
    ), "the command line's entries come after (and so win over) the lower layers' files"


def test_extra_vars_must_be_a_list_of_files(tmp_path):
    file = write(tmp_path / "mlstack.yml", "extra_vars: {a: 1}\n")
    with pytest.raises(ConfigError, match="expected a list of YAML files"):
        load_settings({}, env={}, settings_file=file)


def test_offline_and_dataset_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    env = {"MLSTACK_OFFLINE": "1", "MLSTACK_DATASET_FILE": "data/pima.csv"}
    settings = load_settings({}, env=env, settings_file=empty(tmp_path))
    assert settings.offline is True
    assert settings.dataset_file == tmp_path / "data" / "pima.csv"
    assert (
        load_settings(cli_values(["--no-offline"]), env=env, settings_file=empty(tmp_path)).offline is False
    )
    off = write(tmp_path / "off.yml", "offline: true\ndataset_file: d.csv\n")
    from_file = load_settings(cli_values([]), env={}, settings_file=off)
    assert from_file.offline is True and from_file.dataset_file == tmp_path / "d.csv"
    given = cli_values(["--offline", "--dataset-file", "x.csv"])
    from_cli = load_settings(given, env={}, settings_file=empty(tmp_path))
    assert from_cli.offline is True and from_cli.dataset_file == tmp_path / "x.csv"


def test_the_port_settings_say_what_0_and_a_busy_port_mean():
    from provisioner.settings import FIELD_HELP

    for name in ("local_ssh_port_base", "local_app_port"):
        assert "0 = any free port; a busy port falls back to a free one" in FIELD_HELP[name]


@pytest.mark.parametrize("prefix", ["demo\n", " demo", "demo ", "de mo", "demo\t", "démo", "demo_1", "-demo"])
def test_a_prefix_with_whitespace_or_invalid_characters_is_refused(tmp_path, prefix):
    with pytest.raises(ConfigError) as caught:
        load_settings({"prefix": prefix}, env={}, settings_file=empty(tmp_path))
    assert f"bad prefix {prefix!r}" in str(caught.value)
    assert "lowercase letters, digits or '-'" in str(caught.value)


def test_api_timeout_and_retries_from_every_layer(tmp_path):
    file = write(tmp_path / "s.yml", "api_timeout: 12\napi_retries: 0\n")
    settings = load_settings({}, env={}, settings_file=file)
    assert (settings.api_timeout, settings.api_retries) == (12.0, 0)
    settings = load_settings(
        cli_values(["--api-timeout", "5", "--region", "RegionTwo"]),
        env={"MLSTACK_API_RETRIES": "4"},
        settings_file=file,
    )
    assert (settings.api_timeout, settings.api_retries, settings.region) == (5.0, 4, "RegionTwo")
    with pytest.raises(ConfigError, match="api_timeout must be positive"):
        load_settings({"api_timeout": 0.0}, env={}, settings_file=empty(tmp_path))


def test_the_default_prefix_on_openstack_tells_users_apart(tmp_path, monkeypatch):
    monkeypatch.setenv("LOGNAME", "Alice.Smith")
    on_cloud = load_settings({"provider": "openstack"}, env={}, settings_file=empty(tmp_path))
    assert on_cloud.prefix == "mlstack-alice-smith"
    local = load_settings({"provider": "local"}, env={}, settings_file=empty(tmp_path))
    assert local.prefix == "mlstack", "local machines keep the short default"
    given = load_settings({"provider": "openstack", "prefix": "team"}, env={}, settings_file=empty(tmp_path))
    assert given.prefix == "team"


def test_workers_have_a_documented_upper_bound(tmp_path):
    assert load_settings({"workers": 50}, env={}, settings_file=empty(tmp_path)).workers == 50
    with pytest.raises(ConfigError, match="at most 50 worker machines"):
        load_settings({"workers": 5000}, env={}, settings_file=empty(tmp_path))


def test_host_keys_default_env_cli_and_a_bad_value(tmp_path):
    assert load_settings({}, {}, empty(tmp_path)).host_keys == "auto"
    assert load_settings({}, {"MLSTACK_HOST_KEYS": "console"}, empty(tmp_path)).host_keys == "console"
    given = cli_values(["--host-keys", "accept-new"])
    assert load_settings(given, {"MLSTACK_HOST_KEYS": "console"}, empty(tmp_path)).host_keys == "accept-new"
    with pytest.raises(ConfigError, match="unknown host_keys 'trust-me'") as caught:
        load_settings({}, {"MLSTACK_HOST_KEYS": "trust-me"}, empty(tmp_path))
    assert "auto, console, accept-new" in caught.value.hint
