"""Tests of the local cluster tooling that need no running cluster (pure logic, CLI checks)."""
