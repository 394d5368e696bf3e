"""Command line entry point (subcommands are added by the datasets and training modules)."""


def main(argv=None) -> int:
    raise SystemExit("gaugemesh: no subcommands yet")
