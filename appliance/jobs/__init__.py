"""Scheduled jobs: the declared list, the runner (one run of a job at a time), the scheduler, the run records."""
