"""How long a page takes to open, as a person's browser and the server see it."""

import time
import urllib.request

from playwright.sync_api import sync_playwright

from harness.browser import CHROMIUM_ARGS, CHROMIUM_PATH

FIRST_PAINT_JS = """() => new Promise((resolve) => {
  const found = () => performance.getEntriesByName("first-contentful-paint")[0];
  if (found()) return resolve(found().startTime);
  new PerformanceObserver(() => found() && resolve(found().startTime))
    .observe({type: "paint", buffered: true});
})"""


def first_paints_ms(
    *, origin: str, cookie: str, urls: list[str], runs: int, same_tab: bool
) -> dict[str, list[float]]:
    """Headless Chromium, logged in with ``cookie`` (``name=value``), loads each of ``urls``
    ``runs`` times; for each, the times from the start of navigation to the first contentful
    paint. ``same_tab``: every load follows the one before in one tab, as a person moving
    between pages by their links does (the static files cached as the server allows, the
    tab's renderer running); otherwise each load is a first visit, in a fresh context (a new
    renderer, nothing cached). A first load of each, which warms the server's template
    caches, is left out."""
    name, value = cookie.split("=", 1)
    paints: dict[str, list[float]] = {url: [] for url in urls}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM_PATH, args=CHROMIUM_ARGS)
        context = browser.new_context()
        context.add_cookies([{"name": name, "value": value, "url": origin}])
        page = context.new_page()
        try:
            for _ in range(runs + 1):
                for url, found in paints.items():
                    if not same_tab:
                        context.close()
                        context = browser.new_context()
                        context.add_cookies([{"name": name, "value": value, "url": origin}])
                        page = context.new_page()
                    page.goto(url, wait_until="commit")
                    found.append(float(page.evaluate(FIRST_PAINT_JS)))
        finally:
            context.close()
            browser.close()
    return {url: found[1:] for url, found in paints.items()}


def server_times_ms(url: str, *, cookie: str, runs: int) -> list[float]:
    """Times for the whole page over HTTP, read to its end: the server's share of opening it."""
    took = []
    for _ in range(runs):
        request = urllib.request.Request(url, headers={"Cookie": cookie})  # noqa: S310 - http://127.0.0.1
        started = time.monotonic()
        with urllib.request.urlopen(request) as response:  # noqa: S310 - the bench's own daphne
            response.read()
        took.append((time.monotonic() - started) * 1000)
    return took
