# -*- coding: utf-8 -*-
# Copyright: (c) 2026, inferno.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A backup folder as one archive and a SHA-256 manifest, for inferno.ops.s3_backup.

Pure logic and local files only, unit-tested directly; the module does the S3 calls.

In S3, backup ``<id>`` of a location ``s3://<bucket>/<prefix>`` is two objects::

    <prefix>/<id>/backup.tar       the backup folder (config export, snapshots.yaml), uncompressed tar
    <prefix>/<id>/manifest.json    the archive's SHA-256 and size, and a SHA-256 per file

The manifest is written last: a backup without one is incomplete (an upload stopped part-way)
and is never restored. A download checks the archive against the manifest, and every file
against it, before anything is written where the restore reads.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import os
import re
import shutil
import tarfile
import tempfile

ARCHIVE_NAME = "backup.tar"
MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = 1
CHUNK = 1024 * 1024
BUCKET_PATTERN = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


class ArchiveError(Exception):
    """A backup archive or manifest that must not be used; the message says why."""


def parse_location(location):
    """(bucket, prefix without slashes at either end) of ``s3://bucket[/prefix]``; ValueError says why not."""
    match = re.match(r"^s3://([^/]+)/?(.*)$", location or "")
    if not match:
        raise ValueError("location {0!r} must look like s3://<bucket>/<prefix>".format(location))
    bucket, prefix = match.group(1), match.group(2).strip("/")
    if not BUCKET_PATTERN.match(bucket):
        raise ValueError("bucket {0!r} in location {1!r} is not a valid S3 bucket name (3-63 lowercase letters, "
                         "digits, '.' or '-')".format(bucket, location))
    return bucket, prefix


def key(prefix, backup_id, name):
    return "/".join(part for part in (prefix, backup_id, name) if part)


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


# Folders staged beside or inside a backup folder, which a killed run can leave behind: never part
# of a backup. INCOMING and REPLACED are extract_verified's; LEFTOVER_VAULT_STAGING is where
# config_export once staged plaintext for ansible-vault.
INCOMING = ".incoming-"
REPLACED = ".replaced-"
LEFTOVER_VAULT_STAGING = ".vault-"
STAGING = (LEFTOVER_VAULT_STAGING, INCOMING, REPLACED)


def folder_files(folder):
    """Every regular file under ``folder``, as sorted paths relative to it (with '/'), staging folders left out."""
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(name for name in dirs if not name.startswith(STAGING))
        for name in files:
            path = os.path.join(root, name)
            if os.path.isfile(path) and not os.path.islink(path):
                found.append(os.path.relpath(path, folder).replace(os.sep, "/"))
    return sorted(found)


def folder_digests(folder):
    return dict((relative, sha256_file(os.path.join(folder, relative))) for relative in folder_files(folder))


def write_archive(folder, archive_path):
    """Write ``folder``'s files into an uncompressed tar at ``archive_path``; returns the per-file digests.

    Entries are in sorted order with fixed owners and times, so the same files give the same archive.
    """
    digests = {}
    with tarfile.open(archive_path, "w", format=tarfile.PAX_FORMAT) as archive:
        for relative in folder_files(folder):
            path = os.path.join(folder, relative)
            info = tarfile.TarInfo(relative)
            info.size = os.path.getsize(path)
            info.mode = os.stat(path).st_mode & 0o777
            info.mtime = 0
            with open(path, "rb") as handle:
                archive.addfile(info, handle)
            digests[relative] = sha256_file(path)
    return digests


def manifest(backup_id, archive_path, digests, uploaded_at):
    return {
        "format": MANIFEST_FORMAT,
        "backup_id": backup_id,
        "uploaded_at": uploaded_at,
        "archive": {"name": ARCHIVE_NAME, "sha256": sha256_file(archive_path), "size": os.path.getsize(archive_path)},
        "files": dict((name, digests[name]) for name in sorted(digests)),
    }


def manifest_bytes(document):
    return (json.dumps(document, indent=2, sort_keys=True) + "\n").encode("utf-8")


def read_manifest(data, where):
    """The manifest document from its bytes; ArchiveError when it is not one of ours."""
    try:
        document = json.loads(data.decode("utf-8"))
    except ValueError as error:
        raise ArchiveError("{0} is not valid JSON: it was changed or damaged after upload".format(where)) from error
    if not isinstance(document, dict) or document.get("format") != MANIFEST_FORMAT or not isinstance(
            document.get("files"), dict) or not (document.get("archive") or {}).get("sha256"):
        raise ArchiveError("{0} is not an inferno.ops backup manifest (format {1})".format(where, MANIFEST_FORMAT))
    return document


def same_files(document, digests):
    """Whether an uploaded backup holds exactly these files (the upload can be skipped)."""
    return bool(document) and document.get("files") == digests


def differing_files(document, digests):
    """The files, sorted, that an uploaded backup and a folder do not hold alike (added, removed or changed)."""
    uploaded = (document or {}).get("files") or {}
    return sorted(name for name in set(uploaded) | set(digests) if uploaded.get(name) != digests.get(name))


def extract_verified(archive_path, document, destination, where):
    """Check the archive and each of its files against the manifest, then put the files at ``destination``.

    Nothing is written to ``destination`` unless every check passes: the files are unpacked into a
    temporary folder beside it, checked, and then moved into place. The archive and its manifest
    come from a bucket that anyone with write access could change, so only plain files inside the
    backup are unpacked (no links, devices or sparse files), and they may hold no more bytes than
    the (uncompressed) archive itself.
    """
    expected = document["archive"]["sha256"]
    actual = sha256_file(archive_path)
    if actual != expected:
        raise ArchiveError("the archive {0} has SHA-256 {1}, but its manifest says {2}: it was changed or damaged "
                           "after upload".format(where, actual, expected))
    parent = os.path.dirname(os.path.abspath(destination))
    if not os.path.isdir(parent):
        os.makedirs(parent)
    staging = tempfile.mkdtemp(prefix=INCOMING, dir=parent)
    try:
        with tarfile.open(archive_path, "r:") as archive:
            members = archive.getmembers()
            names = [member.name for member in members]
            unexpected = sorted(set(names) - set(document["files"]))
            missing = sorted(set(document["files"]) - set(names))
            if unexpected or missing:
                raise ArchiveError("the archive {0} does not hold the files its manifest lists (not listed: {1}; "
                                   "missing: {2})".format(where, ", ".join(unexpected) or "none",
                                                          ", ".join(missing) or "none"))
            if len(set(names)) != len(names):
                raise ArchiveError("the archive {0} holds a file twice: {1}".format(where, ", ".join(
                    sorted(set(name for name in names if names.count(name) > 1)))))
            unpacked = sum(member.size for member in members)
            if unpacked > os.path.getsize(archive_path):
                raise ArchiveError("the archive {0} would unpack to {1} bytes, more than its own {2}: it is not an "
                                   "archive inferno.ops wrote".format(where, unpacked, os.path.getsize(archive_path)))
            for member in members:
                _extract_one(archive, member, staging, where)
        for name, digest in sorted(document["files"].items()):
            actual = sha256_file(os.path.join(staging, name))
            if actual != digest:
                raise ArchiveError("{0} in {1} has SHA-256 {2}, but the manifest says {3}".format(
                    name, where, actual, digest))
        _swap_in(staging, destination)
    finally:
        if os.path.isdir(staging):
            shutil.rmtree(staging)


def _swap_in(staging, destination):
    """Put ``staging`` at ``destination``; what was there is moved aside first and removed only after.

    If the second rename fails, the old folder is put back, so ``destination`` is never half-written.
    """
    if not os.path.lexists(destination):
        os.rename(staging, destination)
        return
    aside = tempfile.mkdtemp(prefix=REPLACED, dir=os.path.dirname(os.path.abspath(destination)))
    old = os.path.join(aside, "old")
    os.rename(destination, old)
    try:
        os.rename(staging, destination)
    except OSError:
        os.rename(old, destination)
        os.rmdir(aside)
        raise
    shutil.rmtree(aside)


def _extract_one(archive, member, staging, where):
    """One regular file, kept inside ``staging`` (no links, devices, sparse files, absolute paths or '..')."""
    target = os.path.normpath(os.path.join(staging, member.name))
    if not member.isfile() or member.issparse() or os.path.isabs(member.name) or \
            not target.startswith(staging + os.sep):
        raise ArchiveError("the archive {0} holds {1!r}, which is not a plain file inside the backup".format(
            where, member.name))
    try:
        if not os.path.isdir(os.path.dirname(target)):
            os.makedirs(os.path.dirname(target))
        source = archive.extractfile(member)
        with open(target, "wb") as handle:
            shutil.copyfileobj(source, handle, CHUNK)
    except OSError as error:  # a file and a folder of the same name, and the like
        raise ArchiveError("the archive {0} holds {1!r}, which cannot be unpacked beside its other files ({2})".format(
            where, member.name, error.strerror or error)) from error
    # Files only their owner could read (secrets exported with their values) stay that way.
    os.chmod(target, 0o600 if member.mode & 0o077 == 0 else 0o644)


def backup_ids(common_prefixes, prefix):
    """The backup ids under ``prefix``, from a delimiter listing's CommonPrefixes."""
    start = len(prefix) + 1 if prefix else 0
    return sorted(entry["Prefix"][start:].rstrip("/") for entry in common_prefixes or [])


def describe(document):
    return {
        "backup_id": document.get("backup_id"),
        "uploaded_at": document.get("uploaded_at"),
        "size": (document.get("archive") or {}).get("size"),
        "files": len(document.get("files") or {}),
        "complete": True,
    }


def line(entry):
    """'<id>  uploaded <time>  <files> files, <size> bytes', or why the backup is incomplete."""
    if not entry["complete"]:
        return "{0}  incomplete: its upload never finished (no manifest), so it is never restored".format(
            entry["backup_id"])
    return "{0}  uploaded {1}  {2} files, {3} bytes".format(
        entry["backup_id"], entry["uploaded_at"], entry["files"], entry["size"])
