#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, inferno.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: s3_backup
short_description: Keep backup folders in S3-compatible storage, checked by SHA-256 both ways
version_added: 0.1.0
author:
  - Inferno Ops maintainers (@inferno-ops)
description:
  - Copies a backup folder (the configuration export and the snapshot index that the
    P(inferno.ops.backup#role) role writes) to S3-compatible storage, lists the backups there, and
    copies one back, so that a backup outlives the controller that took it.
  - In S3, backup C(<id>) under O(location) is C(<prefix>/<id>/backup.tar), the folder as an
    uncompressed tar, and C(<prefix>/<id>/manifest.json), the archive's SHA-256 and size and a
    SHA-256 per file. The manifest is written last, so a backup whose upload stopped part-way has
    none and is never restored; uploading again with the same id completes it.
  - O(mode=put) uploads O(path) as backup O(backup_id). When the manifest in S3 already lists the
    same files with the same digests, nothing is uploaded and the task reports no change.
  - A complete backup (one with a manifest) is never replaced. When its files differ from
    O(path), O(mode=put) fails before uploading anything and names the files that differ; take
    the backup under a new id, or delete the old one first. A backup without a manifest (its
    upload stopped part-way) is uploaded again.
  - O(mode=get) downloads backup O(backup_id) into O(path). The archive is checked against the
    manifest, and each file against it, before anything is written to O(path); a mismatch fails
    the task and leaves O(path) as it was.
  - O(mode=list) lists the backups under O(location), newest first, and which are incomplete.
  - Credentials come from the usual AWS options or their environment variables
    (C(AWS_ACCESS_KEY_ID), C(AWS_SECRET_ACCESS_KEY), C(AWS_URL) or O(endpoint_url)), as for
    M(amazon.aws.s3_object). They never appear in the result or in the backup.
  - A missing bucket, refused credentials and an unreachable endpoint each fail with one sentence
    that names the fix.
options:
  mode:
    description:
      - C(put) uploads O(path), C(get) downloads into O(path), C(list) lists the backups.
    type: str
    choices: [put, get, list]
    required: true
  location:
    description:
      - Where the release's backups live, C(s3://<bucket>/<prefix>). The bucket must exist.
    type: str
    required: true
  backup_id:
    description:
      - The backup to upload or download. Required with O(mode=put) and O(mode=get).
    type: str
  path:
    description:
      - With O(mode=put), the backup folder to upload. With O(mode=get), the folder to download
        into; it is replaced only once every checksum has passed.
    type: path
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
attributes:
  check_mode:
    support: full
    description: Reads the manifest and says whether it would upload or download; writes nothing.
  diff_mode:
    support: full
    description: With O(mode=put), the files whose digests differ from the uploaded backup's.
requirements:
  - boto3
  - botocore
seealso:
  - module: amazon.aws.s3_object
  - module: inferno.ops.config_export
"""

EXAMPLES = r"""
- name: Upload a backup folder to S3-compatible storage
  inferno.ops.s3_backup:
    mode: put
    location: s3://inferno-backups/prod/inferno
    backup_id: nightly-7
    path: ~/inferno-backups/prod/inferno/nightly-7
    endpoint_url: https://s3.example.internal
    region: us-east-1
  environment:
    AWS_ACCESS_KEY_ID: "{{ vault_s3_access_key }}"
    AWS_SECRET_ACCESS_KEY: "{{ vault_s3_secret_key }}"

- name: List the backups kept there
  inferno.ops.s3_backup:
    mode: list
    location: s3://inferno-backups/prod/inferno
  register: kept

- name: Download one, every checksum checked, before a restore reads it
  inferno.ops.s3_backup:
    mode: get
    location: s3://inferno-backups/prod/inferno
    backup_id: nightly-7
    path: /tmp/restore/nightly-7
"""

RETURN = r"""
location:
  description: The bucket and key prefix used.
  returned: always
  type: dict
  contains:
    bucket:
      description: The bucket.
      type: str
    prefix:
      description: The key prefix, without slashes at either end.
      type: str
keys:
  description: The archive and manifest keys of O(backup_id).
  returned: with O(mode=put) and O(mode=get)
  type: list
  elements: str
  sample: [prod/inferno/nightly-7/backup.tar, prod/inferno/nightly-7/manifest.json]
sha256:
  description: The archive's SHA-256.
  returned: with O(mode=put) and O(mode=get), unless check mode found nothing to read
  type: str
size:
  description: The archive's size in bytes.
  returned: with O(mode=put) and O(mode=get), unless check mode found nothing to read
  type: int
files:
  description: How many files the backup holds.
  returned: with O(mode=put) and O(mode=get)
  type: int
seconds:
  description: Seconds the transfer took.
  returned: with O(mode=put) and O(mode=get)
  type: float
backups:
  description: With O(mode=list), each backup under O(location), newest first; incomplete ones last.
  returned: with O(mode=list)
  type: list
  elements: dict
  contains:
    backup_id:
      description: The backup id.
      type: str
    complete:
      description: Whether its manifest was written (an incomplete backup is never restored).
      type: bool
    uploaded_at:
      description: When its manifest was written (RFC 3339, UTC).
      type: str
    size:
      description: The archive's size in bytes.
      type: int
    files:
      description: How many files it holds.
      type: int
lines:
  description: With O(mode=list), one readable line per backup, in the order of RV(backups).
  returned: with O(mode=list)
  type: list
  elements: str
  sample: ["nightly-7  uploaded 2026-11-28T01:00:00Z  14 files, 40960 bytes"]
"""

import io
import os
import shutil
import tempfile
import time

from ansible.module_utils.common.text.converters import to_native
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.inferno.ops.plugins.module_utils import backup_archive as archive
from ansible_collections.inferno.ops.plugins.module_utils.snapshots import validate_backup_id

try:
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError
except ImportError:  # AnsibleAWSModule reports the missing library
    Config = None
    BotoCoreError = ClientError = NoCredentialsError = Exception

# Error codes S3 servers give for refused credentials (AWS, MinIO, Ceph and SeaweedFS agree).
CREDENTIAL_CODES = ("InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "403", "InvalidToken",
                    "ExpiredToken")
MISSING_BUCKET_CODES = ("NoSuchBucket", "404")
MISSING_KEY_CODES = ("NoSuchKey", "404")


def error_code(error):
    return ((getattr(error, "response", None) or {}).get("Error") or {}).get("Code", "")


class S3Backups(object):
    def __init__(self, module):
        self.module = module
        self.params = module.params
        try:
            self.bucket, self.prefix = archive.parse_location(self.params["location"])
        except ValueError as error:
            module.fail_json(msg="{0}. Nothing was read or changed.".format(error))
        self.s3 = module.client("s3", config=Config(
            s3={"addressing_style": "path"}, connect_timeout=10, read_timeout=60,
            retries={"max_attempts": 3, "mode": "standard"}))
        self.where = "s3://{0}/{1}".format(self.bucket, self.prefix).rstrip("/")
        self.endpoint = self.s3.meta.endpoint_url

    def fail(self, msg, **kwargs):
        self.module.fail_json(msg=msg, location=dict(bucket=self.bucket, prefix=self.prefix), **kwargs)

    def explain(self, error, doing, outcome):
        """One sentence for what went wrong talking to S3, with the fix."""
        code = error_code(error)
        if isinstance(error, NoCredentialsError):
            why = ("no S3 credentials were given: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or access_key and "
                   "secret_key)")
        elif code in CREDENTIAL_CODES:
            why = ("{0} refused the credentials ({1}): check the access key and secret key (AWS_ACCESS_KEY_ID, "
                   "AWS_SECRET_ACCESS_KEY) and that they may use bucket {2}".format(self.endpoint, code, self.bucket))
        elif code in MISSING_BUCKET_CODES:
            why = ("bucket {0} does not exist at {1}: create it, or fix the bucket in the location {2}".format(
                self.bucket, self.endpoint, self.params["location"]))
        elif isinstance(error, ClientError):
            why = "S3 answered {0}: {1}".format(code or "an error", to_native(error))
        else:
            why = "{0} did not answer ({1}): check the endpoint URL and that the server is up".format(
                self.endpoint, to_native(error))
        self.fail("{0} failed while {1}: {2}. {3}".format(self.where, doing, why, outcome))

    def check_bucket(self, outcome):
        try:
            self.s3.head_bucket(Bucket=self.bucket)
        except (BotoCoreError, ClientError) as error:
            self.explain(error, "checking bucket {0}".format(self.bucket), outcome)

    def read_manifest(self, backup_id, outcome):
        """The backup's manifest, or None when it has none (not uploaded, or the upload stopped part-way)."""
        name = archive.key(self.prefix, backup_id, archive.MANIFEST_NAME)
        try:
            data = self.s3.get_object(Bucket=self.bucket, Key=name)["Body"].read()
        except (BotoCoreError, ClientError) as error:
            if isinstance(error, ClientError) and error_code(error) in MISSING_KEY_CODES:
                return None
            self.explain(error, "reading the manifest", outcome)
        try:
            return archive.read_manifest(data, "s3://{0}/{1}".format(self.bucket, name))
        except archive.ArchiveError as error:
            self.fail("{0}. {1}".format(error, outcome))

    def keys(self, backup_id):
        return [archive.key(self.prefix, backup_id, name) for name in (archive.ARCHIVE_NAME, archive.MANIFEST_NAME)]

    # --- put -----------------------------------------------------------------------
    def put(self):
        backup_id, folder = self.params["backup_id"], self.params["path"]
        resume = ("Nothing in the backup is lost: once S3 answers, run the backup again with the same backup id "
                  "({0}) to complete the upload.".format(backup_id))
        if not os.path.isdir(folder) or not archive.folder_files(folder):
            self.fail("The backup folder {0} does not exist or is empty: nothing to upload.".format(folder))
        self.check_bucket(resume)
        digests = archive.folder_digests(folder)
        uploaded = self.read_manifest(backup_id, resume)
        result = dict(changed=not archive.same_files(uploaded, digests), keys=self.keys(backup_id),
                      files=len(digests), location=dict(bucket=self.bucket, prefix=self.prefix))
        if self.module._diff:
            before = (uploaded or {}).get("files") or {}
            result["diff"] = dict(before="".join("{0}  {1}\n".format(before[name], name) for name in sorted(before)),
                                  after="".join("{0}  {1}\n".format(digests[name], name) for name in sorted(digests)))
        if not result["changed"]:
            result.update(sha256=uploaded["archive"]["sha256"], size=uploaded["archive"]["size"], seconds=0.0)
            return result
        if uploaded is not None:
            # A complete backup is never replaced: uploading the archive over it, then failing before
            # the manifest, would leave neither the old backup nor the new one restorable.
            differ = archive.differing_files(uploaded, digests)
            self.fail("Backup {0} in {1} is complete and holds other files than {2} ({3} differ: {4}). A backup id "
                      "names one backup, and a complete one is never replaced: take this backup under a new id, or "
                      "delete {1}/{0}/ first if it is meant to go. Nothing was uploaded.".format(
                          backup_id, self.where, folder, len(differ), ", ".join(differ[:5]) + (
                              ", ..." if len(differ) > 5 else "")))
        if self.module.check_mode:
            return result
        started = time.monotonic()
        workdir = tempfile.mkdtemp(prefix="inferno-s3-backup-")
        try:
            archive_path = os.path.join(workdir, archive.ARCHIVE_NAME)
            digests = archive.write_archive(folder, archive_path)
            document = archive.manifest(backup_id, archive_path, digests,
                                        time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
            try:  # the manifest last: until it is there, the backup is incomplete and never restored
                self.s3.upload_file(archive_path, self.bucket, result["keys"][0])
                self.s3.upload_fileobj(io.BytesIO(archive.manifest_bytes(document)), self.bucket, result["keys"][1])
            except Exception as error:  # pylint: disable=broad-except  # boto3's transfer manager wraps what it meets
                self.explain(error, "uploading backup {0}".format(backup_id), resume)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        result.update(sha256=document["archive"]["sha256"], size=document["archive"]["size"],
                      seconds=round(time.monotonic() - started, 2))
        return result

    # --- get -----------------------------------------------------------------------
    def get(self):
        backup_id, folder = self.params["backup_id"], self.params["path"]
        untouched = "Nothing was restored, and {0} was left as it was.".format(folder)
        self.check_bucket(untouched)
        document = self.read_manifest(backup_id, untouched)
        result = dict(keys=self.keys(backup_id), location=dict(bucket=self.bucket, prefix=self.prefix))
        if document is None:
            listed = self.listed()
            complete = [entry["backup_id"] for entry in listed if entry["complete"]]
            incomplete = [entry["backup_id"] for entry in listed if not entry["complete"]]
            self.fail("There is no complete backup {0} in {1}{2} (complete backups: {3}). Check the backup id; "
                      "playbooks/list_backups.yml lists them. {4}".format(
                          backup_id, self.where,
                          ": its upload never finished, so it has no manifest" if backup_id in incomplete else "",
                          ", ".join(complete) or "none", untouched))
        result.update(sha256=document["archive"]["sha256"], size=document["archive"]["size"],
                      files=len(document["files"]))
        have = archive.folder_digests(folder) if os.path.isdir(folder) else {}
        result["changed"] = not archive.same_files(document, have)
        if not result["changed"] or self.module.check_mode:
            result["seconds"] = 0.0
            return result
        started = time.monotonic()
        workdir = tempfile.mkdtemp(prefix="inferno-s3-restore-")
        try:
            archive_path = os.path.join(workdir, archive.ARCHIVE_NAME)
            try:
                self.s3.download_file(self.bucket, result["keys"][0], archive_path)
            except Exception as error:  # pylint: disable=broad-except  # boto3's transfer manager wraps what it meets
                self.explain(error, "downloading backup {0}".format(backup_id), untouched)
            try:
                archive.extract_verified(archive_path, document, folder,
                                         "s3://{0}/{1}".format(self.bucket, result["keys"][0]))
            except archive.ArchiveError as error:
                self.fail("Backup {0} in {1} cannot be trusted: {2}. {3}".format(backup_id, self.where, error, untouched))
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        result["seconds"] = round(time.monotonic() - started, 2)
        return result

    # --- list ----------------------------------------------------------------------
    def listed(self):
        found = []
        paginator = self.s3.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + "/" if self.prefix else "",
                                           Delimiter="/"):
                found.extend(archive.backup_ids(page.get("CommonPrefixes"), self.prefix))
        except (BotoCoreError, ClientError) as error:
            self.explain(error, "listing the backups", "Nothing was changed.")
        entries = []
        for backup_id in found:
            document = self.read_manifest(backup_id, "Nothing was changed.")
            entries.append(archive.describe(document) if document else dict(
                backup_id=backup_id, complete=False, uploaded_at=None, size=None, files=None))
        return sorted(entries, key=lambda entry: (entry["complete"], entry["uploaded_at"] or "", entry["backup_id"]),
                      reverse=True)

    def list(self):
        backups = self.listed()
        return dict(changed=False, backups=backups, lines=[archive.line(entry) for entry in backups],
                    location=dict(bucket=self.bucket, prefix=self.prefix))


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            mode=dict(type="str", required=True, choices=["put", "get", "list"]),
            location=dict(type="str", required=True),
            backup_id=dict(type="str"),
            path=dict(type="path"),
        ),
        required_if=[("mode", "put", ["backup_id", "path"]), ("mode", "get", ["backup_id", "path"])],
        supports_check_mode=True,
    )
    if module.params["backup_id"]:
        problem = validate_backup_id(module.params["backup_id"])
        if problem:
            module.fail_json(msg="{0}. Nothing was read or changed.".format(problem))
    backups = S3Backups(module)
    module.exit_json(**getattr(backups, module.params["mode"])())


if __name__ == "__main__":
    main()
