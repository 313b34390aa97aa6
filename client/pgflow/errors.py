"""The error hierarchy: every error this package raises is a PgflowError."""

from __future__ import annotations


class PgflowError(Exception):
    """Root of all pgflow errors."""


class SchemaVersionError(PgflowError):
    """The database schema is missing, behind, or ahead of what this client understands."""


class MigrationError(PgflowError):
    """Applying migrations failed, or the applied history does not match the shipped files."""
