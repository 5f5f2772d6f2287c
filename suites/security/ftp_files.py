"""The canary of the FTP-root check: a file the harness plants just outside the vehicle's FTP
root on the host (the `canary` fixture in conftest.py makes one per check)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass
class Canary:
    """A file just outside the FTP root, and the root itself, on the host."""

    root: Path
    path: Path
    content: bytes

    @property
    def name(self) -> str:
        return self.path.name

    def intact(self) -> bool:
        return self.path.is_file() and self.path.read_bytes() == self.content

    def replant(self) -> None:
        self.path.write_bytes(self.content)
