"""A demo-fleet service made down, slow, erroring or flapping, through the fleet's
control channel: the fleet runs in another process (`opsconsole demo`), or in this one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from opsconsole.demo.control import NoDemoFleet, call

DEMO_PREFIX = "demo_"


@dataclass
class DemoFault:
    service: str
    fault: str
    """down, slow, erroring or flapping: the demo service's own fault."""

    def record(self) -> dict[str, Any]:
        return {"kind": f"{DEMO_PREFIX}{self.fault}", "service": self.service}

    def inject(self) -> str:
        said = call({"op": "fault", "service": self.service, "fault": self.fault})["said"]
        return f"demo service {said}"

    def undo(self) -> str:
        try:
            said = call({"op": "clear", "service": self.service})["said"]
        except NoDemoFleet as error:  # its faults ended with its process
            return f"{error}; nothing left to clear"
        return f"demo service {said}"
