"""The `mule` command: one module per subcommand, each with add_subparser(subparsers)."""
