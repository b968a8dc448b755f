"""The commands the workflow's rules run, one module each (``python -m iquery.cli.NAME``).

Each is a small command line over ``iquery.model`` and ``iquery.pipeline``; the ones a user runs
by hand are also subcommands of the ``iquery`` console command (``iquery.cli.main``).
"""
