"""An open page that is doing nothing costs the server no CPU.

Streamlit's default file watcher, with the virtual environment inside the app's folder, kept one of
two cores busy for as long as any page was open; .streamlit/config.toml turns it off.
"""

import os
import time

WINDOW_S = 3.0
WINDOWS = 20  # other tests' runs may still be finishing: one quiet window out of these is enough


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def test_an_idle_open_page_leaves_the_server_idle(running_server, browser):
    page = browser.new_page()
    page.goto(running_server.url)
    page.get_by_text("Image attribution").wait_for(timeout=300_000)
    page.locator('[data-testid="stPlotlyChart"]').first.wait_for(timeout=300_000)  # the page's first run is done
    used = []
    for _ in range(WINDOWS):
        start = cpu_seconds(running_server.pid)
        time.sleep(WINDOW_S)
        used.append(cpu_seconds(running_server.pid) - start)
        if used[-1] < 0.2 * WINDOW_S:
            break
    page.close()
    assert min(used) < 0.2 * WINDOW_S, f"the server used {min(used):.1f} s of CPU in every {WINDOW_S:.0f} s window"
