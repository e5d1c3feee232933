"""A stuck server can be asked what it is doing, without stopping it (``config.stacks``)."""

import re
from urllib.request import urlopen

from harness.live_stack import servers_report


def test_every_running_server_writes_its_threads_stacks_when_asked_and_goes_on(live_stack):
    report = servers_report()

    for log in ("daphne.log", "worker.log"):
        section = report.split(f"--- {log} ")[1].split("\n--- ")[0]
        assert re.search(
            r"(Current thread|Thread) 0x[0-9a-f]+ \(most recent call first\):\n  File ", section
        )
    with urlopen(f"{live_stack.http_url}/favicon.ico") as response:
        assert response.status == 200
    assert live_stack.worker.poll() is None
