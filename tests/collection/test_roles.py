"""Each role's meta/argument_specs.yml and defaults/main.yml describe the same variables.

The defaults are what a role runs with; the argument specs are what validates the inputs
when it starts and what ansible-doc shows. They are written by hand, side by side, so this
checks that they stay in step:

- every public variable in defaults/main.yml is an option of the role's entry points (the
  main one, plus the tasks_from ones of a role that has them), and every option has a
  default there, except a required one, which must have none;
- where the spec gives a literal ``default``, it is the value in defaults/main.yml, and a
  literal (untemplated) value in defaults/main.yml is given as the spec's ``default``;
- the literal defaults pass the entry point's own validation.

Private variables (``_`` prefix) are left out on both sides.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

REPO = Path(__file__).resolve().parents[2]
ROLES = sorted(path.name for path in (REPO / "roles").iterdir() if path.is_dir())


def load(path: Path):
    with path.open(encoding="utf-8") as stream:
        return yaml.safe_load(stream)


def defaults(role: str) -> dict:
    values = load(REPO / "roles" / role / "defaults" / "main.yml") or {}
    return {name: value for name, value in values.items() if not name.startswith("_")}


def entry_points(role: str) -> dict[str, dict]:
    """{entry point: {option: its spec}}, private options left out."""
    specs = load(REPO / "roles" / role / "meta" / "argument_specs.yml")["argument_specs"]
    return {entry: {name: spec for name, spec in (body.get("options") or {}).items() if not name.startswith("_")}
            for entry, body in specs.items()}


def declared(role: str) -> dict[str, list[str]]:
    """{option: the entry points that declare it}."""
    found: dict[str, list[str]] = {}
    for entry, options in entry_points(role).items():
        for name in options:
            found.setdefault(name, []).append(entry)
    return found


def templated(value) -> bool:
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    if isinstance(value, dict):
        return any(templated(key) or templated(item) for key, item in value.items())
    if isinstance(value, list):
        return any(templated(item) for item in value)
    return False


def same(left, right) -> bool:
    """Equal, and of the same type (so true is not 1 and 10 is not "10")."""
    return type(left) is type(right) and left == right


def test_every_role_has_defaults_an_argument_spec_and_a_main_entry_point():
    assert ROLES, "no roles found under roles/"
    for role in ROLES:
        assert (REPO / "roles" / role / "defaults" / "main.yml").is_file(), f"{role}: defaults/main.yml is missing"
        assert "main" in entry_points(role), f"{role}: meta/argument_specs.yml has no main entry point"


@pytest.mark.parametrize("role", ROLES)
def test_every_default_is_declared_and_every_option_has_a_default(role):
    values, options = defaults(role), declared(role)
    required = {name for specs in entry_points(role).values() for name, spec in specs.items() if spec.get("required")}
    undeclared = sorted(set(values) - set(options))
    assert not undeclared, (f"roles/{role}/defaults/main.yml sets {undeclared}, which no entry point of "
                            f"roles/{role}/meta/argument_specs.yml declares: add them under options")
    missing = sorted(set(options) - set(values) - required)
    assert not missing, (f"roles/{role}/meta/argument_specs.yml declares {missing}, which "
                         f"roles/{role}/defaults/main.yml does not set: give each a default there")
    defaulted_required = sorted(required & set(values))
    assert not defaulted_required, (f"roles/{role}: {defaulted_required} are required in the argument spec but have "
                                    "a value in defaults/main.yml, so required never fails: drop one or the other")


@pytest.mark.parametrize("role", ROLES)
def test_literal_defaults_agree(role):
    values = defaults(role)
    wrong = []
    for entry, options in entry_points(role).items():
        for name, spec in options.items():
            if name not in values:
                continue
            if "default" in spec and not same(spec["default"], values[name]):
                wrong.append(f"{entry}: {name} default {spec['default']!r}, defaults/main.yml {values[name]!r}")
            elif "default" not in spec and not templated(values[name]):
                wrong.append(f"{entry}: {name} has no default in the spec; defaults/main.yml gives {values[name]!r}")
    assert not wrong, f"roles/{role}: the argument spec and defaults/main.yml disagree:\n" + "\n".join(wrong)


@pytest.mark.parametrize("role", ROLES)
def test_literal_defaults_pass_the_role_validation(role):
    values = {name: value for name, value in defaults(role).items() if not templated(value)}
    for entry, options in entry_points(role).items():
        result = ArgumentSpecValidator(options).validate({name: values[name] for name in options if name in values})
        assert not result.error_messages, f"roles/{role} {entry}: {result.error_messages}"


def test_literals_are_told_from_templates_and_types_matter():
    """The helpers the checks above rest on."""
    assert same(10, 10) and not same(True, 1) and not same("10", 10)
    assert templated("{{ inferno_namespace | default('default') }}") and not templated("10m")
    assert templated(["{{ x }}"]) and not templated({"a": [1, ""]})


# Options whose value is a credential or secret data: argument validation must never show them.
SECRET_OPTION = re.compile(r"(secret|api_key|access_key|password(?!_file)|token)")


@pytest.mark.parametrize("role", ROLES)
def test_every_secret_option_is_no_log(role):
    """Issue 25, case 10: inferno_{backup,restore}_s3_secret_key and inferno_{deploy,preflight}_secrets had none."""
    missing = sorted({f"{entry}: {name}" for entry, options in entry_points(role).items()
                      for name, spec in options.items()
                      if SECRET_OPTION.search(name) and not name.endswith("include_secrets") and not spec.get("no_log")})
    assert not missing, f"roles/{role}/meta/argument_specs.yml: set no_log: true on {missing}"
