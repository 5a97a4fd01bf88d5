# -*- coding: utf-8 -*-
# Copyright: (c) 2026, inferno.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a models claim holds and how a declared model gets there (inferno.ops.model_delivery).

One owner for each fact of model delivery:

- the names: what a model may be called (Inferno 0.10.3 serves the ``*.gguf`` files at the top
  level of its models folder, and names a model by its file name), the temporary name a copy
  lands under (hidden from Inferno: it does not end in ``.gguf``), and the record;
- the record, ``.inferno-models.json`` on the claim: for each model delivered, its SHA-256 and
  the size and modification time the file had when its digest was checked. A file whose size
  and time still match is not read again (as rsync decides), so a rerun reads no model. The
  record lives with the files, so a snapshot of the claim and a rollback with volumes carry
  it with them;
- the plan: which declared models are added, replaced or kept, and which files nobody declares;
- the shell the fetch pod runs: POSIX ``sh`` with ``curl``, ``sha256sum`` (or ``openssl``, faster),
  ``df``, ``awk``, ``stat``, ``head``, ``cut`` and ``mv`` (curl's own image, curlimages/curl, has
  them all);
- the fetch pod's manifest.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re

try:
    from urllib.parse import urlsplit, urlunsplit
except ImportError:  # Python 2 has no place here, but sanity's compile test still imports it
    from urlparse import urlsplit, urlunsplit

MODEL_SUFFIX = ".gguf"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,250}$")
SHA256 = re.compile(r"[0-9a-f]{64}")  # used with fullmatch: no newline may follow
RECORD = ".inferno-models.json"
RECORD_FORMAT = 1
MOUNT = "/models"
# The label our fetch pods carry; a pod with it and the release's instance label is ours.
COMPONENT = "model-delivery"

ADD, REPLACE, KEEP, REMOVE, UNDECLARED = "add", "replace", "keep", "remove", "undeclared"


def partial_name(name):
    """Where ``name``'s bytes land until their digest is checked: hidden, and not a ``*.gguf`` file."""
    return ".{0}.partial".format(name)


def shown_source(source):
    """A source as task output may show it: no query string (a presigned URL's signature), no password."""
    if not re.match(r"^[a-z][a-z0-9+.-]*://", source or ""):
        return source
    parts = urlsplit(source)
    host = parts.netloc.rpartition("@")[2]  # host[:port] as written (an IPv6 literal keeps its brackets)
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def bad_port(source):
    """Whether a URL's port is not a number from 0 to 65535 (urlsplit raises on reading it)."""
    try:
        port = urlsplit(source).port
    except ValueError:
        return True
    return port is not None and not 0 <= port <= 65535


def source_kind(source):
    """``s3``, ``url`` (http or https) or ``file`` (a path on the controller); None for anything else."""
    if re.match(r"^s3://[^/]+/.+", source or ""):
        return "s3"
    if re.match(r"^https?://[^/]+", source or ""):
        return "url"
    if source and "://" not in source:
        return "file"
    return None


def declaration_problems(models):
    """One sentence per declared model that cannot be delivered (name, digest, source, duplicates)."""
    problems, seen = [], {}
    for index, model in enumerate(models):
        name = model.get("name") or ""
        label = "inferno_models[{0}]".format(index) + (" ({0})".format(name) if name else "")
        if not NAME.match(name) or not name.endswith(MODEL_SUFFIX) or name.startswith("."):
            problems.append(
                "{0} has the name {1!r}: a model's name is the file name Inferno serves it under, so it must end in "
                "{2}, hold only letters, digits, '.', '_', '+' and '-', and no path parts (no '/'); for example "
                "llama-3-8b.Q4_K_M.gguf".format(label, name, MODEL_SUFFIX))
        elif name in seen:
            problems.append("{0} repeats the name {1} of inferno_models[{2}]: two models cannot share one file; "
                            "rename one or remove the duplicate".format(label, name, seen[name]))
        else:
            seen[name] = index
        digest = (model.get("sha256") or "")
        if not SHA256.fullmatch(digest.lower()):
            problems.append("{0} has sha256 {1!r}: give the model's SHA-256 as 64 hexadecimal digits "
                            "(sha256sum <file> prints it)".format(label, digest))
        kind = source_kind(model.get("source"))
        if kind in ("s3", "url") and bad_port(model["source"]):
            problems.append("{0} has the source {1!r}, whose port is not a number from 0 to 65535: fix the "
                            "URL".format(label, shown_source(model["source"])))
        elif kind is None:
            problems.append("{0} has the source {1!r}: use s3://<bucket>/<key>, https://<host>/<path> or a path to a "
                            "file on the controller".format(label, shown_source(model.get("source") or "")))
    return problems


def expected(model):
    return (model.get("sha256") or "").lower()


def parse_record(text):
    """The record's models ({name: {sha256, size, mtime, source}}); empty when absent or unreadable."""
    try:
        document = json.loads(text or "{}")
    except ValueError:
        return {}
    models = document.get("models") if isinstance(document, dict) else None
    return dict((name, entry) for name, entry in (models or {}).items() if isinstance(entry, dict))


def record_text(models):
    return json.dumps({"format": RECORD_FORMAT, "models": models}, indent=2, sort_keys=True) + "\n"


def record_matches(entry, listed):
    """Whether a record entry still describes the file as listed now (same size and modification time)."""
    return bool(entry) and listed is not None and entry.get("size") == listed["size"] and \
        entry.get("mtime") == listed["mtime"]


def plan(declared, listed, record, remove_undeclared):
    """What to do with each model: a list of {name, action, ...}, declared ones first, in their order.

    ``listed``: the claim's top-level files, {name: {size, mtime}}; ``record``: parse_record's
    answer. A declared model present with a record that matches is ``keep`` when its digest is
    the declared one, and ``replace`` otherwise. A present file the record does not describe
    (put there by hand, or changed since) gets ``verify``: its digest must be read once.
    """
    entries = []
    for model in declared:
        name, present = model["name"], listed.get(model["name"])
        entry = dict(name=name, sha256=expected(model), source=shown_source(model["source"]))
        known = record.get(name)
        if present is None:
            entry["action"] = ADD
        elif record_matches(known, present):
            entry["action"] = KEEP if known.get("sha256") == entry["sha256"] else REPLACE
            entry["present_sha256"] = known.get("sha256")
        else:
            entry["action"] = "verify"
        entries.append(entry)
    names = set(model["name"] for model in declared)
    for name in sorted(listed):
        if name.endswith(MODEL_SUFFIX) and name not in names:
            known = record.get(name)
            entries.append(dict(name=name, action=REMOVE if remove_undeclared else UNDECLARED,
                                present_sha256=known.get("sha256") if record_matches(known, listed[name]) else None,
                                source=(known or {}).get("source")))
    return entries


def diff(entries):
    """Before and after, one '<sha256>  <name>' line per model (sha256sum's format)."""
    def line(digest, name):
        return "{0}  {1}\n".format(digest or "(not read)", name)
    before = "".join(line(e.get("present_sha256"), e["name"]) for e in entries if e["action"] != ADD)
    after = "".join(line(e.get("sha256") or e.get("present_sha256"), e["name"]) for e in entries
                    if e["action"] != REMOVE)
    return dict(before=before, after=after)


def human_bytes(count):
    value = float(count)
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return "{0} {1}".format(int(value), unit) if unit == "bytes" else "{0:.1f} {1}".format(value, unit)
        value /= 1024
    return str(count)


# --- What the fetch pod runs --------------------------------------------------------------------
# Each script is `sh -c <script> sh <args...>`; a URL comes on stdin, never in the command line.

# The claim's free bytes, the record, and each top-level file's name, size and mtime.
STATE_SCRIPT = r"""
set -eu
cd "$1"
echo "free_kib $(df -Pk . | awk 'NR==2 {print $4}')"
echo "writable $( (touch .inferno-models.probe && rm -f .inferno-models.probe && echo yes) 2>/dev/null || echo no)"
for f in * .*.partial; do
  [ -f "$f" ] || continue
  echo "file $(stat -c '%s %Y' "$f") $f"
done
echo "record"
cat .inferno-models.json 2>/dev/null || true
"""

# The fastest hasher the image has: openssl (SHA-NI: 0.6 s of CPU a GiB on the local cluster's node),
# else coreutils' sha256sum by its path (2.1 s; busybox's sh runs its own applet for a bare
# `sha256sum` even where coreutils' is installed), else sha256sum (busybox's: 4.1 s, what curl's
# own image has).
HASH = r"""
digest_of() {
  if command -v openssl >/dev/null 2>&1; then openssl dgst -sha256 -r "$1"
  elif [ -x /usr/bin/sha256sum ]; then /usr/bin/sha256sum "$1"
  else sha256sum "$1"
  fi | cut -d' ' -f1
}
"""

# The digest of a file already on the claim.
DIGEST_SCRIPT = HASH + r"""
[ -f "$1" ] && [ -r "$1" ] || { echo "$1: no such file, or not readable"; exit 1; }
digest_of "$1"
"""

# Probe a URL with a one-byte range: the HTTP status, and the total size from Content-Range
# (or Content-Length when the server ignores ranges: --max-filesize then stops curl before the
# body). A presigned S3 URL is signed for GET only, so this is a GET, not a HEAD.
PROBE_SCRIPT = r"""
IFS= read -r url
curl -sS -L --max-time "$1" -r 0-0 --max-filesize 1 -o /dev/null -D - "$url" 2>&1
echo "exit $?"
"""

# Fetch a URL into the partial name, then print its digest and size. The copy is written first
# and hashed after, from the page cache: on the node's two cores that measured faster than
# hashing in a pipe as the bytes arrive (curl | tee | sha256sum: 6.2 s against 3.5 s a GiB with
# coreutils' sha256sum).
FETCH_SCRIPT = HASH + r"""
IFS= read -r url
rm -f "$1"
curl -sS -f -L --connect-timeout 30 -o "$1" "$url" 2>&1 || { echo "exit $?"; rm -f "$1"; exit 0; }
echo "digest $(digest_of "$1") $(stat -c %s "$1")"
"""

# Take exactly $2 bytes from stdin into the partial name, then print its digest and size.
RECEIVE_SCRIPT = HASH + r"""
set -eu
rm -f "$1"
head -c "$2" > "$1"
echo "digest $(digest_of "$1") $(stat -c %s "$1")"
"""

# Put checked files in place (rename within the claim: Inferno sees the old file or the new one,
# never a part), write the record from stdin, and remove the files named after --remove.
COMMIT_SCRIPT = r"""
set -eu
cd "$1"
shift
head -c "$1" > .inferno-models.json.partial
shift
while [ $# -gt 0 ] && [ "$1" != "--remove" ]; do
  mv -f ".$1.partial" "$1"
  echo "placed $(stat -c '%s %Y' "$1") $1"
  shift
done
[ $# -gt 0 ] && shift
for f in "$@"; do rm -f -- "$f"; echo "removed $f"; done
mv -f .inferno-models.json.partial .inferno-models.json
"""

# Remove partial files (after a failed check).
DISCARD_SCRIPT = r"""
cd "$1"
shift
for f in "$@"; do rm -f -- "$f"; done
"""


def parse_state(text):
    """STATE_SCRIPT's output: {free, writable, files: {name: {size, mtime}}, record: {...}}."""
    head, record = text.partition("\nrecord\n")[::2]
    state = dict(free=None, writable=False, files={}, record=parse_record(record))
    for line in head.splitlines():
        if line.startswith("free_kib "):
            kib = line.split(" ", 1)[1].strip()
            state["free"] = int(kib) * 1024 if kib.isdigit() else None
        elif line.startswith("writable "):
            state["writable"] = line.split()[1:] == ["yes"]
        elif line.startswith("file "):
            size, mtime, name = line.split(" ", 3)[1:]
            state["files"][name] = dict(size=int(size), mtime=int(mtime))
    return state


HTTP_STATUS = re.compile(r"^\s*HTTP/[0-9.]+\s+(\d{3})(.*)$", re.M)
CONTENT_RANGE = re.compile(r"^\s*Content-Range:\s*bytes\s+\d+-\d+/(\d+)\s*$", re.M | re.I)
CONTENT_LENGTH = re.compile(r"^\s*Content-Length:\s*(\d+)\s*$", re.M | re.I)


def parse_probe(text):
    """PROBE_SCRIPT's output: (status or None, size or None, the tool's own words)."""
    statuses = HTTP_STATUS.findall(text)
    if not statuses:
        words = " ".join(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("exit "))
        return None, None, words
    # The last response (after redirects) is the one that counts.
    last_block = text[[m.start() for m in HTTP_STATUS.finditer(text)][-1]:]
    status = int(statuses[-1][0])
    ranged = CONTENT_RANGE.search(last_block)
    length = CONTENT_LENGTH.search(last_block)
    size = int(ranged.group(1)) if ranged else (int(length.group(1)) if length and status == 200 else None)
    return status, size, "HTTP {0}{1}".format(status, statuses[-1][1].rstrip())


def parse_digest(text):
    """(sha256, size) from a ``digest <sha256> <size>`` line, or (None, the tool's words)."""
    match = re.search(r"^digest ([0-9a-f]{64}) (\d+)$", text, re.M)
    if match:
        return match.group(1), int(match.group(2))
    return None, " ".join(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("exit "))


def fetch_pod(name, namespace, release, template, image, node, claim, read_only, deadline_seconds):
    """The pod that reaches the claim: the release's pod security, placement and claim, and a shell.

    ``template`` is the Deployment's pod template (API JSON). Its pod and container security
    contexts are copied, so files land owned by Inferno's user and the pod passes the same Pod
    Security level; so are its node selector and tolerations. ``node`` pins the pod to the node
    where Inferno mounts the claim, which a ReadWriteOnce claim needs.
    """
    spec = template.get("spec") or {}
    container = next(iter(spec.get("containers") or []), {})
    pod_spec = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "activeDeadlineSeconds": deadline_seconds,
        "terminationGracePeriodSeconds": 1,
        "containers": [{
            "name": "fetch",
            "image": image,
            "imagePullPolicy": "IfNotPresent",
            "command": ["sleep", str(deadline_seconds)],
            "securityContext": container.get("securityContext") or {
                "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
            "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"memory": "128Mi"}},
            "volumeMounts": [{"name": "models", "mountPath": MOUNT, "readOnly": read_only}],
        }],
        "volumes": [{"name": "models", "persistentVolumeClaim": {"claimName": claim, "readOnly": read_only}}],
    }
    for key in ("securityContext", "nodeSelector", "tolerations", "imagePullSecrets"):
        if spec.get(key):
            pod_spec[key] = spec[key]
    if node:
        pod_spec["nodeSelector"] = dict(pod_spec.get("nodeSelector") or {}, **{"kubernetes.io/hostname": node})
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": {
            "app.kubernetes.io/instance": release, "app.kubernetes.io/component": COMPONENT,
            "app.kubernetes.io/managed-by": "inferno.ops"}},
        "spec": pod_spec,
    }
