"""Example flows. ``pgflow demo`` runs :mod:`pgflow.examples.article_digest`; compile or run any of
them with ``pgflow compile pgflow.examples.article_digest:flow`` and
``pgflow worker pgflow.examples.article_digest:flow``."""
