"""Helpers shared by the test suites; test modules import from here and from conftest fixtures,
never from one another.

    paths         ROOT and the directories tests read (computed once)
    waiting       wait_until: poll a condition against a deadline (no sleeps for correctness)
    catalog       catalog snapshots of the pgflow schema, to compare two databases
    sql           the SQL API driven the way a worker drives it, row factories (insert_worker),
                  readers of queue and state tables, the end-of-run invariants
    worker        fast Worker options and running(worker), for workers in the test's process
    processes     WorkerProcess: one wrapper for worker processes (spawn_worker, spawn_cli_worker)
    worker_main   the entry point those processes run (python -m tests.support.worker_main)
    cli           run_cli / start_cli: the `pgflow` command as a user runs it
    dev           `pgflow dev` in the background (start_dev, DevProcess) in a project_dir()
    faults        the reliability suite's fault counters, stall ager and effect checks
    extensions    make an extension available on the test server for one block
    clock         a simulated clock file worker processes share (schedule_clock)
"""
