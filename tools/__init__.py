"""Development tooling of inferno.ops (the local cluster, benchmarks); not shipped in the collection."""
