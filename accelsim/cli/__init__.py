"""The ``accelsim`` command line; one module per command (see accelsim.cli.main)."""
