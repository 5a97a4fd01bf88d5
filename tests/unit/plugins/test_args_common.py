"""The connection options modules share: the K8S_AUTH_* environment reaches the module's
parameters, so that helm, which gets only what the parameters hold, connects as the API
client does (AWX's bearer-token credential sets nothing but these variables)."""

from __future__ import annotations

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.inferno.ops.plugins.module_utils import args_common

ENVIRONMENT = {"K8S_AUTH_HOST": "https://10.0.0.1:6443", "K8S_AUTH_API_KEY": "token-from-the-environment",
               "K8S_AUTH_SSL_CA_CERT": "/etc/ca.crt", "K8S_AUTH_VERIFY_SSL": "false"}


def validated(parameters, monkeypatch):
    for name, value in ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    result = ArgumentSpecValidator(args_common.K8S_CONNECTION).validate(parameters)
    assert result.error_messages == []
    return result


def test_the_environment_fills_the_connection_options(monkeypatch):
    result = validated({}, monkeypatch)
    params = result.validated_parameters
    assert (params["host"], params["api_key"], params["ca_cert"], params["validate_certs"]) == (
        "https://10.0.0.1:6443", "token-from-the-environment", "/etc/ca.crt", False)
    # The token is a secret wherever it came from.
    assert "token-from-the-environment" in result._no_log_values


def test_options_given_win_over_the_environment(monkeypatch):
    params = validated({"host": "https://other:6443", "api_key": "given"}, monkeypatch).validated_parameters
    assert (params["host"], params["api_key"]) == ("https://other:6443", "given")


def test_kubernetes_core_s_own_spec_is_left_as_it_was():
    from ansible_collections.kubernetes.core.plugins.module_utils.args_common import AUTH_ARG_SPEC

    assert "fallback" not in AUTH_ARG_SPEC["host"]
    assert args_common.K8S_CONNECTION["host"]["fallback"][1] == ["K8S_AUTH_HOST"]
