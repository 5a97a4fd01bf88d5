"""The SeaweedFS S3 server against boto3: a real `weed server -s3`, no mocks."""

from __future__ import annotations

import hashlib
import io
import os
import threading

import pytest
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError, ReadTimeoutError

from .conftest import requires_weed

pytestmark = requires_weed
MIB = 1024 * 1024


def error_code(excinfo: pytest.ExceptionInfo[ClientError]) -> str:
    return excinfo.value.response["Error"]["Code"]


def test_an_object_put_is_got_back(server):
    bucket = server.create_bucket("roundtrip")
    client = server.client()
    client.put_object(Bucket=bucket, Key="dir/a.txt", Body=b"hello backup")
    assert client.get_object(Bucket=bucket, Key="dir/a.txt")["Body"].read() == b"hello backup"
    assert [o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]] == ["dir/a.txt"]


def test_a_wrong_secret_key_is_signature_does_not_match(server):
    client = server.client(secret_key=server.secret_key[::-1], retries={"max_attempts": 1})
    with pytest.raises(ClientError) as excinfo:
        client.list_buckets()
    assert error_code(excinfo) == "SignatureDoesNotMatch"


def test_an_unknown_access_key_is_invalid_access_key_id(server):
    client = server.client(access_key="AKIA" + "X" * 16, retries={"max_attempts": 1})
    with pytest.raises(ClientError) as excinfo:
        client.list_buckets()
    assert error_code(excinfo) == "InvalidAccessKeyId"


def test_a_missing_bucket_is_no_such_bucket_also_for_uploads(server):
    client = server.client()
    for call in (lambda: client.list_objects_v2(Bucket="no-such-bucket"),
                 lambda: client.get_object(Bucket="no-such-bucket", Key="k"),
                 lambda: client.put_object(Bucket="no-such-bucket", Key="k", Body=b"x")):
        with pytest.raises(ClientError) as excinfo:
            call()
        assert error_code(excinfo) == "NoSuchBucket"


def test_a_20_mib_multipart_upload_comes_back_whole(server):
    bucket = server.create_bucket("multipart")
    data = os.urandom(20 * MIB + 12345)
    config = TransferConfig(multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB, max_concurrency=2)
    client = server.client()
    client.upload_fileobj(io.BytesIO(data), bucket, "big.bin", Config=config)
    head = client.head_object(Bucket=bucket, Key="big.bin")
    assert head["ContentLength"] == len(data) and head["ETag"].endswith('-5"')  # five parts
    got = io.BytesIO()
    client.download_fileobj(bucket, "big.bin", got)
    assert hashlib.sha256(got.getvalue()).digest() == hashlib.sha256(data).digest()


def test_stop_leaves_nothing_and_start_serves_the_same_objects_with_the_same_keys(make_server):
    server = make_server()
    endpoint, keys = server.endpoint_url, (server.access_key, server.secret_key)
    server.create_bucket("kept")
    client = server.client()
    client.put_object(Bucket="kept", Key="a", Body=b"before stop")
    server.stop()
    assert server.leftovers() == [] and server.tmp_sockets() == []
    server.start()
    assert (server.endpoint_url, (server.access_key, server.secret_key)) == (endpoint, keys)
    assert client.get_object(Bucket="kept", Key="a")["Body"].read() == b"before stop"


def test_a_server_killed_mid_upload_keeps_what_was_uploaded_before(make_server):
    """The reliable way to be mid-upload: pause (SIGSTOP) the server, start the upload, wait
    until its bytes queue up unread on the S3 port, then kill; the client can be anything."""
    server = make_server()
    server.create_bucket("crash")
    client = server.client(read_timeout=30, retries={"max_attempts": 1})
    client.put_object(Bucket="crash", Key="before", Body=b"safe")
    server.pause()
    outcome: list[BaseException | None] = []

    def upload() -> None:
        try:
            client.put_object(Bucket="crash", Key="during", Body=os.urandom(8 * MIB))
            outcome.append(None)
        except BaseException as error:  # pylint: disable=broad-exception-caught  # recorded for the assert
            outcome.append(error)

    thread = threading.Thread(target=upload)
    thread.start()
    server.wait_for_unread_request()
    server.kill()
    thread.join(60)
    # The kernel resets the connection weed held: botocore raises ConnectionClosedError.
    assert len(outcome) == 1 and isinstance(outcome[0], (ConnectionClosedError, EndpointConnectionError)), outcome
    server.start()
    assert client.get_object(Bucket="crash", Key="before")["Body"].read() == b"safe"
    with pytest.raises(ClientError) as excinfo:
        client.head_object(Bucket="crash", Key="during")
    assert error_code(excinfo) == "404"


def test_a_paused_server_times_out_and_answers_again_after_resume(make_server):
    server = make_server()
    server.pause()
    try:
        with pytest.raises(ReadTimeoutError):
            server.client(read_timeout=1, retries={"max_attempts": 1}).list_buckets()
    finally:
        server.resume()
    assert server.answers()
    server.pause()
    server.stop(grace=5)  # resumes it first, so it stops on the SIGTERM, not the SIGKILL
    assert server.leftovers() == []
