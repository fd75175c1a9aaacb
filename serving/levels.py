"""The server's log levels, named once for the server's settings and the stack config.

Standard library only: `components.core.config` (the stack's `server.logLevel`) imports it
without the `serving` extra, and the server image, which ships `serving/` alone, keeps it.
"""

from __future__ import annotations

from typing import Literal

__all__ = ["LogLevel"]

LogLevel = Literal["debug", "info", "warning", "error"]
