"""Every SQL statement the Python side sends, with the NOTIFY channel names and advisory-lock keys.

One module, so that a reader finds what the client, the worker, the CLI and the dashboard ask of
the database in one place: a package of one file per section, every name re-exported here (callers
write ``from pgflow import queries as q`` and ``q.START_FLOW``). Each constant is a whole statement
(no fragments glued together), with named parameters (``%(name)s``) unless a hot path reads
positional tuples, which its comment says.

Sections: ``_channels`` (channels and lock keys), ``_client`` (the SQL client), ``_worker`` (the
worker and its observability), ``_cli``, ``_run_control``, ``_schedules``, ``_testing`` (pgflow.testing),
``_dashboard`` (pgflow.ui).
"""

from __future__ import annotations

from pgflow.queries._channels import *  # noqa: F403
from pgflow.queries._cli import *  # noqa: F403
from pgflow.queries._client import *  # noqa: F403
from pgflow.queries._dashboard import *  # noqa: F403
from pgflow.queries._run_control import *  # noqa: F403
from pgflow.queries._schedules import *  # noqa: F403
from pgflow.queries._testing import *  # noqa: F403
from pgflow.queries._worker import *  # noqa: F403
