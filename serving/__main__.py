"""`python -m serving` (console script `mlops-serve`): fetch the model, then serve it."""

from __future__ import annotations

import logging
import sys

from pydantic import ValidationError

from serving.logs import configure_logging
from serving.repository import RepositoryError, fetch_model
from serving.settings import Settings
from serving.supervisor import EXIT_REPOSITORY, supervise

__all__ = ["main"]

log = logging.getLogger("serving")


def settings_error(error: ValidationError) -> str:
    """One line naming each bad environment variable and why."""
    problems = []
    for item in error.errors():
        if not item["loc"]:  # a check across variables: its message names them
            problems.append(str(item["msg"]).removeprefix("Value error, "))
            continue
        variable = "SERVING_" + "_".join(str(part) for part in item["loc"]).upper()
        shown = f"={item['input']!r}" if item["type"] != "missing" else ""
        problems.append(f"{variable}{shown}: {item['msg']}")
    return "invalid settings: " + "; ".join(problems)


def main() -> None:
    try:
        settings = Settings()
    except ValidationError as error:
        print(settings_error(error), file=sys.stderr)
        sys.exit(2)
    configure_logging(settings.log_level)
    try:
        # Once, before any worker starts, so workers share one verified download.
        model_file = fetch_model(settings.model_repository, settings.cache_dir)
    except RepositoryError as error:
        log.error(f"cannot load model: {error}")
        sys.exit(EXIT_REPOSITORY)
    if settings.workers == 1:
        from serving.server import serve  # not in a supervisor, which stays light (supervisor.py)

        sys.exit(serve(settings, model_file))
    sys.exit(supervise(settings, model_file))


if __name__ == "__main__":
    main()
