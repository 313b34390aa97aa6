"""pgflow-py: pgflow's SQL workflow engine on plain PostgreSQL + pgmq, driven from Python."""

from pgflow.errors import MigrationError, PgflowError, SchemaVersionError

__all__ = ["MigrationError", "PgflowError", "SchemaVersionError"]
__version__ = "0.1.0"
