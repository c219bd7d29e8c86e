"""Extra variables: @FILE, key=value and inline mappings, merged in order (the later wins)."""

from __future__ import annotations

import stat

import pytest
import yaml

from provisioner import extravars
from provisioner.errors import ConfigError


def test_key_value_pairs_are_strings_split_like_a_shell_line():
    assert extravars.parse("a=1") == {"a": "1"}
    assert extravars.parse("a=1 b='two words' c=x=y") == {"a": "1", "b": "two words", "c": "x=y"}
    assert extravars.parse("empty=") == {"empty": ""}


def test_an_inline_mapping_keeps_its_types():
    assert extravars.parse('{"n": 2, "flag": true, "items": [1, 2]}') == {
        "n": 2,
        "flag": True,
        "items": [1, 2],
    }


def test_a_file_is_read_as_yaml(tmp_path):
    path = tmp_path / "vars.yml"
    path.write_text("greeting: hello\nnested:\n  x: 1\nlist: [a, b]\n")
    assert extravars.parse(f"@{path}") == {"greeting": "hello", "nested": {"x": 1}, "list": ["a", "b"]}
    (tmp_path / "empty.yml").write_text("# nothing\n")
    assert extravars.parse(f"@{tmp_path / 'empty.yml'}") == {}


def test_entries_merge_in_order_the_later_wins_per_top_level_key(tmp_path):
    (tmp_path / "a.yml").write_text("x: from-a\nnested: {a: 1}\nonly_a: 1\n")
    (tmp_path / "b.yml").write_text("x: from-b\nnested: {b: 2}\n")
    merged = extravars.load([f"@{tmp_path / 'a.yml'}", f"@{tmp_path / 'b.yml'}", "y=cli"])
    assert merged == {"x": "from-b", "nested": {"b": 2}, "only_a": 1, "y": "cli"}
    assert extravars.merge({"x": 1, "keep": 1}, {"x": 2}) == {"x": 2, "keep": 1}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("- a\n- b\n", "must hold a mapping"),
        ("a: [unclosed\n", "is not valid YAML"),
        ("1: one\n", "is not a valid variable name"),
        ("bad-name: x\n", "is not a valid variable name"),
    ],
)
def test_a_bad_file_is_named_in_the_error(tmp_path, content, message):
    path = tmp_path / "bad.yml"
    path.write_text(content)
    with pytest.raises(ConfigError, match=message) as failure:
        extravars.parse(f"@{path}")
    assert str(path) in failure.value.message


def test_a_missing_file_is_named_in_the_error(tmp_path):
    missing = tmp_path / "nope.yml"
    with pytest.raises(ConfigError) as failure:
        extravars.load(["a=1", f"@{missing}"])
    assert failure.value.message == f"the extra variables file {missing} does not exist"
    assert failure.value.exit_code == 2


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("novalue", "'novalue' is not key=value"),
        ("=x", "is not key=value"),
        ("a='unclosed", "No closing quotation"),
        ("{a: [1}", "not a valid YAML mapping"),
        ("@", "needs a file name"),
    ],
)
def test_bad_entries(entry, message):
    with pytest.raises(ConfigError, match=message):
        extravars.parse(entry)


def test_write_is_private_and_reads_back(tmp_path):
    values = {"secret": "s3cret", "items": [1, 2]}
    path = extravars.write(values, tmp_path / "state" / "extra-vars.yml")
    assert yaml.safe_load(path.read_text()) == values
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert extravars.parse(f"@{path}") == values, "ansible-playbook -e @file reads the same"
    assert [p.name for p in path.parent.iterdir()] == ["extra-vars.yml"], "no temporary file left"
