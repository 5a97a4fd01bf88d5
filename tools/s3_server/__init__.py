"""A real S3-compatible server for tests: SeaweedFS's S3 gateway (see README.md)."""
