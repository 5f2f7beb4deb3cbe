"""`python -m newsletter` and the `newsletter` command (pyproject's console script).

Cheap to import on purpose: multiprocessing's forkserver and spawn workers (the CSV import's
readers) re-import the main script, and importing the whole CLI there cost each worker ~65 MB.
"""


def main() -> None:
    from newsletter.cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
