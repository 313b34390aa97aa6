-- The pgflow schema: every table, type and function of the engine lives here.
create schema if not exists pgflow;
