"""What a module says when the Kubernetes API cannot be reached or refuses the credentials:
one sentence with the cause and the fix, not urllib3's chain of exceptions."""

from __future__ import annotations

import pytest
from kubernetes.client.rest import ApiException
from urllib3.exceptions import MaxRetryError, NewConnectionError

from ansible_collections.inferno.ops.plugins.module_utils import kube_client


class Ended(Exception):
    pass


class Module:
    def fail_json(self, msg):
        raise Ended(msg)


def failure(error, where=" in ns"):
    with pytest.raises(Ended) as ended:
        with kube_client.reported_api_errors(Module(), where):
            raise error
    return str(ended.value)


def refused():
    cause = NewConnectionError(None, "Failed to establish a new connection: [Errno 111] Connection refused")
    return MaxRetryError(None, "/version", cause)


@pytest.mark.parametrize("text, expected", [
    ("HTTPSConnectionPool(host='127.0.0.1', port=9): Max retries exceeded with url: /version (Caused by "
     "NewConnectionError('<urllib3.connection.HTTPSConnection object at 0x7f>: Failed to establish a new connection: "
     "[Errno 111] Connection refused'))", "connection refused at 127.0.0.1:9. Check that the cluster is up"),
    ("HTTPSConnectionPool(host='10.0.0.1', port=6443): Max retries exceeded (Caused by ConnectTimeoutError(... "
     "'Connection to 10.0.0.1 timed out. (connect timeout=5)'))", "no answer (timed out) at 10.0.0.1:6443."),
    ("HTTPSConnectionPool(host='api.example', port=443): Max retries exceeded (Caused by SSLError(SSLCertVerificationError"
     "(1, '[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate')))",
     "its TLS certificate is not trusted (check the certificate authority"),
    ("HTTPSConnectionPool(host='nowhere.invalid', port=443): Max retries exceeded (Caused by NameResolutionError("
     "\"Failed to resolve 'nowhere.invalid' ([Errno -2] Name or service not known)\"))",
     "its host name does not resolve at nowhere.invalid:443."),
])
def test_the_cause_in_a_few_words(text, expected):
    assert expected in kube_client.unreachable(OSError(text))
    assert "Max retries" not in kube_client.unreachable(OSError(text))


def test_an_unreachable_api_is_one_sentence_with_the_fix():
    message = failure(refused())
    assert message.startswith("Cannot reach the Kubernetes API in ns: connection refused")
    assert message.endswith("points at it")


def test_expired_credentials_say_so():
    message = failure(ApiException(status=401, reason="Unauthorized"))
    assert message == ("The Kubernetes API refused the credentials in ns (401 Unauthorized): the token or client "
                       "certificate has expired or is not valid. Get fresh credentials (log in again, or a new "
                       "ServiceAccount token) and run again")


def test_other_refusals_keep_the_server_s_words():
    error = ApiException(status=403, reason="Forbidden")
    error.body = '{"message": "pods is forbidden: User \\"x\\" cannot list resource \\"pods\\""}'
    assert failure(error) == ('The Kubernetes API refused a request in ns: pods is forbidden: User "x" cannot list '
                              'resource "pods"')
