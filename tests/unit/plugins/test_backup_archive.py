"""The backup archive and manifest of inferno.ops.s3_backup, on real files in a temporary folder."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import tarfile

import pytest

from ansible_collections.inferno.ops.plugins.module_utils import backup_archive as archive


@pytest.fixture
def backup(tmp_path):
    folder = tmp_path / "nightly-7"
    (folder / "config" / "configmaps").mkdir(parents=True)
    (folder / "config" / "configmaps" / "inferno-config.yaml").write_text("data: {a: b}\n")
    (folder / "config" / "index.yaml").write_text("files: {}\n")
    (folder / "snapshots.yaml").write_text("entries: []\n")
    secret = folder / "config" / "secrets" / "inferno-token.yaml"
    secret.parent.mkdir()
    secret.write_text("data: {token: c2VjcmV0}\n")
    secret.chmod(0o600)
    return folder


def packed(backup, tmp_path):
    path = tmp_path / "backup.tar"
    digests = archive.write_archive(str(backup), str(path))
    return path, archive.manifest("nightly-7", str(path), digests, "2026-11-28T01:00:00Z")


@pytest.mark.parametrize("location, parsed", [
    ("s3://inferno-backups", ("inferno-backups", "")),
    ("s3://inferno-backups/", ("inferno-backups", "")),
    ("s3://inferno-backups/prod/inferno/", ("inferno-backups", "prod/inferno")),
])
def test_locations(location, parsed):
    assert archive.parse_location(location) == parsed


@pytest.mark.parametrize("location, message", [
    ("/backups", "location '/backups' must look like s3://<bucket>/<prefix>"),
    ("s3://Inferno_Backups/x", "bucket 'Inferno_Backups' in location 's3://Inferno_Backups/x' is not a valid S3 bucket"),
])
def test_bad_locations(location, message):
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(")):
        archive.parse_location(location)


def test_the_same_files_give_the_same_archive(backup, tmp_path):
    first, document = packed(backup, tmp_path)
    again = tmp_path / "again.tar"
    archive.write_archive(str(backup), str(again))
    assert archive.sha256_file(str(first)) == archive.sha256_file(str(again))
    assert sorted(document["files"]) == ["config/configmaps/inferno-config.yaml", "config/index.yaml",
                                         "config/secrets/inferno-token.yaml", "snapshots.yaml"]
    assert archive.same_files(document, archive.folder_digests(str(backup)))
    assert archive.read_manifest(archive.manifest_bytes(document), "m") == document


def test_a_verified_download_replaces_the_folder_and_keeps_secret_files_private(backup, tmp_path):
    path, document = packed(backup, tmp_path)
    destination = tmp_path / "restore" / "nightly-7"
    destination.mkdir(parents=True)
    (destination / "stale.yaml").write_text("old")
    archive.extract_verified(str(path), document, str(destination), "here")
    assert archive.folder_digests(str(destination)) == document["files"]
    assert (destination / "config/secrets/inferno-token.yaml").stat().st_mode & 0o777 == 0o600
    assert [item.name for item in destination.parent.iterdir()] == ["nightly-7"]  # no staging folder left


def test_a_changed_archive_is_refused_and_the_destination_left_alone(backup, tmp_path):
    path, document = packed(backup, tmp_path)
    with open(path, "r+b") as handle:
        handle.seek(600)
        handle.write(b"X")
    destination = tmp_path / "restore"
    with pytest.raises(archive.ArchiveError, match="the archive here has SHA-256 [0-9a-f]{64}, but its manifest says"):
        archive.extract_verified(str(path), document, str(destination), "here")
    assert not destination.exists() and sorted(item.name for item in tmp_path.iterdir()) == ["backup.tar", "nightly-7"]


def test_a_file_that_differs_from_the_manifest_is_refused(backup, tmp_path):
    (backup / "snapshots.yaml").write_text("entries: [changed]\n")
    path = tmp_path / "backup.tar"
    archive.write_archive(str(backup), str(path))
    document = archive.manifest("nightly-7", str(path), archive.folder_digests(str(backup)), "now")
    document["files"]["snapshots.yaml"] = "0" * 64
    with pytest.raises(archive.ArchiveError, match="snapshots.yaml in here has SHA-256 .* but the manifest says 0{64}"):
        archive.extract_verified(str(path), document, str(tmp_path / "restore"), "here")
    assert not (tmp_path / "restore").exists()


def test_links_and_paths_outside_the_backup_are_refused(tmp_path):
    path = tmp_path / "evil.tar"
    with tarfile.open(path, "w") as evil:
        info = tarfile.TarInfo("../outside")
        evil.addfile(info)
    document = {"archive": {"sha256": archive.sha256_file(str(path))}, "files": {"../outside": "x"}}
    with pytest.raises(archive.ArchiveError, match="which is not a plain file inside the backup"):
        archive.extract_verified(str(path), document, str(tmp_path / "restore"), "here")
    assert not (tmp_path / "outside").exists()


@pytest.mark.parametrize("data, message", [
    (b"{not json", "m is not valid JSON"),
    (json.dumps({"format": 9}).encode(), "m is not an inferno.ops backup manifest"),
])
def test_a_damaged_manifest_is_refused(data, message):
    with pytest.raises(archive.ArchiveError, match=message):
        archive.read_manifest(data, "m")


def test_backup_ids_from_a_listing():
    prefixes = [{"Prefix": "prod/inferno/b2/"}, {"Prefix": "prod/inferno/b1/"}]
    assert archive.backup_ids(prefixes, "prod/inferno") == ["b1", "b2"]
    assert archive.backup_ids([{"Prefix": "b1/"}], "") == ["b1"]
    assert archive.backup_ids(None, "x") == []


# --- a bucket is untrusted input (issue 25, cases 5 and 10) ----------------------------------------
def crafted(tmp_path, members):
    """A tar of ``members`` ({name: bytes}) and a manifest that vouches for it, as a bucket writer could make."""
    path = tmp_path / "crafted.tar"
    with tarfile.open(path, "w") as crafted_tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            crafted_tar.addfile(info, io.BytesIO(data))
    files = {name: hashlib.sha256(data).hexdigest() for name, data in members.items()}
    return path, {"archive": {"sha256": archive.sha256_file(str(path))}, "files": files}


def test_a_sparse_member_that_would_fill_the_disk_is_refused(tmp_path):
    """A 10 kB GNU sparse member of 100 MiB, and a manifest with its true digest."""
    source = tmp_path / "src"
    source.mkdir()
    with open(source / "big", "wb") as handle:
        handle.truncate(100 * 1024 * 1024)
        handle.write(b"x" * 10240)
    path = tmp_path / "sparse.tar"
    subprocess.run(["tar", "--sparse", "--format=gnu", "-cf", str(path), "-C", str(source), "big"], check=True)
    assert path.stat().st_size < 1024 * 1024
    document = {"archive": {"sha256": archive.sha256_file(str(path))},
                "files": {"big": archive.sha256_file(str(source / "big"))}}
    with pytest.raises(archive.ArchiveError, match=r"would unpack to 104857600 bytes, more than its own \d+"):
        archive.extract_verified(str(path), document, str(tmp_path / "restore"), "here")
    assert not (tmp_path / "restore").exists()


def test_a_sparse_member_is_refused_even_within_the_archive_s_size(tmp_path, monkeypatch):
    path, document = crafted(tmp_path, {"big": b"x" * 10})
    monkeypatch.setattr(tarfile.TarInfo, "issparse", lambda self: True)
    with pytest.raises(archive.ArchiveError, match="'big', which is not a plain file inside the backup"):
        archive.extract_verified(str(path), document, str(tmp_path / "restore"), "here")


@pytest.mark.parametrize("kind", [tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.CHRTYPE, tarfile.FIFOTYPE, tarfile.DIRTYPE])
def test_links_devices_and_folders_are_refused(tmp_path, kind):
    path = tmp_path / "odd.tar"
    with tarfile.open(path, "w") as odd:
        info = tarfile.TarInfo("config/index.yaml")
        info.type, info.linkname = kind, "/etc/passwd"
        odd.addfile(info)
    document = {"archive": {"sha256": archive.sha256_file(str(path))}, "files": {"config/index.yaml": "x"}}
    with pytest.raises(archive.ArchiveError, match="'config/index.yaml', which is not a plain file inside the backup"):
        archive.extract_verified(str(path), document, str(tmp_path / "restore"), "here")


def test_a_file_and_a_folder_of_one_name_fail_with_a_sentence_not_a_traceback(tmp_path):
    path, document = crafted(tmp_path, {"config": b"a file", "config/index.yaml": b"files: {}\n"})
    with pytest.raises(archive.ArchiveError, match="holds 'config/index.yaml', which cannot be unpacked beside its "
                                                   "other files"):
        archive.extract_verified(str(path), document, str(tmp_path / "restore"), "here")
    assert not (tmp_path / "restore").exists() and not list(tmp_path.glob(".incoming-*"))


def test_a_file_listed_twice_is_refused(tmp_path):
    path = tmp_path / "twice.tar"
    with tarfile.open(path, "w") as twice:
        for data in (b"one", b"two"):
            info = tarfile.TarInfo("snapshots.yaml")
            info.size = len(data)
            twice.addfile(info, io.BytesIO(data))
    document = {"archive": {"sha256": archive.sha256_file(str(path))}, "files": {"snapshots.yaml": "x"}}
    with pytest.raises(archive.ArchiveError, match="holds a file twice: snapshots.yaml"):
        archive.extract_verified(str(path), document, str(tmp_path / "restore"), "here")


def test_the_old_folder_stays_whole_when_the_new_one_cannot_be_moved_in(backup, tmp_path, monkeypatch):
    path, document = packed(backup, tmp_path)
    destination = tmp_path / "restore"
    destination.mkdir()
    (destination / "snapshots.yaml").write_text("the earlier download\n")
    renames = []
    real_rename = os.rename

    def failing_second(source, target):
        renames.append(target)
        if len(renames) == 2:
            raise OSError(28, "No space left on device")
        real_rename(source, target)

    monkeypatch.setattr(archive.os, "rename", failing_second)
    with pytest.raises(OSError):
        archive.extract_verified(str(path), document, str(destination), "here")
    assert (destination / "snapshots.yaml").read_text() == "the earlier download\n"
    assert sorted(item.name for item in tmp_path.iterdir()) == sorted(["nightly-7", "backup.tar", "restore"])
