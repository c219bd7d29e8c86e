"""--extra-vars / extra_vars / --dataset-file on a real ansible-runner run of a local-connection playbook,
through the command line (a provider whose machines are this host)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import yaml

from provisioner import cli, offline

FIXTURES = Path(__file__).parent / "fixtures"
UNSET = "__unset__"


def key_args(keypair):
    private, public = keypair
    return ["--public-key", str(public), "--private-key", str(private)]


def recorded(directory: Path, host: str = "prodserver") -> dict:
    return json.loads((directory / f"{host}.json").read_text())


def test_files_and_key_values_merge_in_order_and_reach_the_playbook(
    isolated, keypair, vars_record, this_host, capsys
):
    (isolated / "base.yml").write_text("greeting: from-settings-file\nonly_base: true\nnumber: 0\n")
    (isolated / "no-settings.yml").write_text("extra_vars: [base.yml]\n")  # relative to the settings file
    (isolated / "work" / "a.yml").write_text("greeting: from-a\nnested: {x: 1, items: [1, 2]}\n")
    code = cli.main(["-e", "@a.yml", "-e", "number=2", *key_args(keypair)], lambda name: this_host)

    out, err = capsys.readouterr()
    assert code == 0, out + err
    for host in ("prodserver", "devserver"):
        values = recorded(vars_record, host)
        assert values["greeting"] == "from-a", "a later file wins over the settings file's"
        assert values["only_base"] is True, "the settings file's other variables stay"
        assert values["number"] == "2", "key=value from the command line wins, as a string"
        assert values["nested"] == {"x": 1, "items": [1, 2]}
        assert values["docker_install_source"] == UNSET, "no offline variables unless asked"
        assert values["model_serving_dataset_file"] == UNSET
    vars_file = isolated / "state" / "extra-vars-mlstack.yml"
    assert yaml.safe_load(vars_file.read_text()) == {
        **offline.LOCAL_MACHINE_VARS,  # the local provider's own, below the user's
        "greeting": "from-a",
        "only_base": True,
        "number": "2",
        "nested": {"x": 1, "items": [1, 2]},
    }
    assert (
        f"Extra variables (the later wins): @{isolated / 'base.yml'}, @{isolated / 'work' / 'a.yml'}" in out
    )
    assert f"-e @{vars_file}" in out, "the by-hand command of the summary uses the same variables"

    assert cli.main(["--destroy"], lambda name: this_host) == 0
    assert not vars_file.exists(), "--destroy removes the prefix's variables file"


def test_the_data_set_file_is_passed_below_the_users_variables(
    isolated, keypair, vars_record, this_host, capsys
):
    csv = isolated / "pima.csv"
    csv.write_text("6,148,72,35,0,33.6,0.627,50,1\n")
    argv = ["--dataset-file", str(csv), "-e", "greeting=hi", "-e", "ml_dev_dataset_file=/elsewhere.csv"]

    assert cli.main([*argv, *key_args(keypair)], lambda name: this_host) == 0, capsys.readouterr()

    values = recorded(vars_record)
    assert values["model_serving_dataset_file"] == str(csv)
    assert values["ml_dev_dataset_file"] == "/elsewhere.csv", "the user's variable wins over the launcher's"


def test_a_variable_the_playbook_needs_missing_fails_the_run(
    isolated, keypair, vars_record, this_host, capsys
):
    code = cli.main(["-e", "number=1", *key_args(keypair)], lambda name: this_host)
    out, err = capsys.readouterr()
    assert code == 5
    assert "no greeting was given" in out
    assert "error: the configuration failed" in err


def test_a_missing_or_broken_file_stops_before_any_machine_is_made(
    isolated, keypair, vars_record, this_host, monkeypatch, capsys
):
    provider = this_host
    missing = isolated / "work" / "missing.yml"
    assert cli.main(["-e", "@missing.yml", *key_args(keypair)], lambda name: provider) == 2
    assert f"error: the extra variables file {missing} does not exist" in capsys.readouterr().err

    (isolated / "work" / "list.yml").write_text("- not\n- a mapping\n")
    assert cli.main(["-e", "@list.yml", *key_args(keypair)], lambda name: provider) == 2
    assert "must hold a mapping" in capsys.readouterr().err

    monkeypatch.setenv("MLSTACK_EXTRA_VARS", str(isolated / "env-missing.yml"))
    assert cli.main(["--no-configure", *key_args(keypair)], lambda name: provider) == 2
    assert str(isolated / "env-missing.yml") in capsys.readouterr().err, "checked with --no-configure too"
    assert provider.up_calls == 0
    assert list(vars_record.iterdir()) == []


class OnA1450Network:
    """This host's machines, reported on a network with MTU 1450 (as the OpenStack provider does)."""

    def __init__(self, this_host) -> None:
        self.inner = this_host

    def up(self, settings):
        return [dataclasses.replace(m, extra={"mtu": "1450"}) for m in self.inner.up(settings)]

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_the_network_mtu_reaches_dockers_daemon_options_merged_with_the_roles(
    isolated, keypair, vars_record, this_host, capsys
):
    code = cli.main(["-e", "greeting=hi", *key_args(keypair)], lambda name: OnA1450Network(this_host))

    out, err = capsys.readouterr()
    assert code == 0, out + err
    for host in ("prodserver", "devserver"):
        # The MTU in a variable of its own: the role's daemon_options (log rotation) and the user's stay.
        assert recorded(vars_record, host)["docker_daemon_network_options"] == {"mtu": 1450}
        assert recorded(vars_record, host)["docker_daemon_options"] == UNSET
    assert "Network MTU 1450: Docker Engine's daemon gets mtu 1450" in out

    (isolated / "work" / "mine.yml").write_text("docker_daemon_options: {registry-mirrors: [m]}\n")
    assert (
        cli.main(
            ["-e", "greeting=hi", "-e", "@mine.yml", *key_args(keypair)],
            lambda name: OnA1450Network(this_host),
        )
        == 0
    )
    assert recorded(vars_record)["docker_daemon_options"] == {"registry-mirrors": ["m"]}
    assert recorded(vars_record)["docker_daemon_network_options"] == {"mtu": 1450}, "both reach the role"


def test_no_daemon_options_from_the_launcher_on_a_1500_network(isolated, keypair, vars_record, this_host):
    assert cli.main(["-e", "greeting=hi", *key_args(keypair)], lambda name: this_host) == 0
    assert recorded(vars_record)["docker_daemon_options"] == UNSET
    assert recorded(vars_record)["docker_daemon_network_options"] == UNSET
