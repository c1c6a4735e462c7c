"""A separate process that appends events to one incident and says each one it wrote:
what the durability and concurrency tests kill and race.
Run: python -m tests.support.incident_writer DIRECTORY INCIDENT COUNT LABEL"""

from __future__ import annotations

import sys
from pathlib import Path

from opsconsole.incidents.files import FileStore
from opsconsole.incidents.model import Actor


def main() -> None:
    directory, incident, count, label = sys.argv[1:5]
    store = FileStore(Path(directory))
    who = Actor(user=label, host="test")
    for number in range(int(count)):
        event = store.append(incident, "note", {"text": f"{label} {number}"}, who)
        # Said only once append has returned: the event is on disk by then.
        print(event.seq, event.data["text"], flush=True)


if __name__ == "__main__":
    main()
