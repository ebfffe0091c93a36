"""`python -m monitor` and the `monitor` command.

Light on purpose: a parser process (analyse.py, started with spawn) runs the parent's main
script again before its work, so the console script's imports are paid once per worker.
Importing monitor.cli.main here would cost each worker every module the service uses (30 MB).
"""


def run() -> int:
    from monitor.cli.main import main

    return main()


if __name__ == "__main__":
    raise SystemExit(run())
