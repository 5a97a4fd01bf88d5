"""Make `ansible_collections.inferno.ops` importable, from a checkout or from the installed collection.

In a checkout, `collections/` links back to the root, so that folder goes first on `sys.path`.
In an installed collection (`.../ansible_collections/inferno/ops`, the tree that
scripts/check_artifact.sh tests) there is no such link: the folder that holds
`ansible_collections` goes first instead, and kubernetes.core is found beside the collection or
in the Python environment.
"""

from __future__ import annotations

import sys
from pathlib import Path

COLLECTION_ROOT = Path(__file__).resolve().parents[3]
if COLLECTION_ROOT.parents[1].name == "ansible_collections":
    IMPORT_ROOT = COLLECTION_ROOT.parents[2]
else:
    IMPORT_ROOT = COLLECTION_ROOT / "collections"
if str(IMPORT_ROOT) not in sys.path:
    sys.path.insert(0, str(IMPORT_ROOT))
