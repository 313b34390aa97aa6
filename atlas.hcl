# Atlas project file, for users who have Atlas (it is not needed to build, test or install).
#   atlas migrate hash --env local          # once: writes migrations/atlas.sum, which Atlas's
#                                           # migrate commands check (not shipped: Atlas cannot run
#                                           # where this project is built, so its sum is unverified)
#   atlas migrate diff --env local <name>   # write a new migration from changes in sql/
#   atlas schema diff --env local --from file://migrations --to file://sql   # should print nothing
# In this repository the same agreement is proved without Atlas by
# tests/migration/test_schema_sync.py, which builds a database from each and compares catalogs.
variable "dev_url" {
  type    = string
  # a throwaway database on a server that has pgmq available (see README: embedded server)
  default = getenv("ATLAS_DEV_URL")
}

env "local" {
  src = "file://sql"
  dev = var.dev_url
  migration {
    dir    = "file://migrations"
    format = atlas
  }
  schemas = ["pgflow"]
  diff {
    skip {
      drop_schema = true
    }
  }
}
