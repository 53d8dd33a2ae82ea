"""The sub-commands of ``microgan``: one module each, with ``register(subparsers)`` (its parser) and
``run(args)`` (parse, check every value, call the library below). Only here and in ``cli`` is argparse used."""
