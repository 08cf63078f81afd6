"""Headless Chromium for the pages people see: Debian's /usr/bin/chromium driven by Playwright for
Python (never a downloaded browser). App Bridge and anything else from Shopify's CDN is stood in
for at the window edge: requests to other hosts than the app under test are answered by the test
or refused, so nothing leaves the machine.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--no-first-run", "--disable-quic", "--disable-sync",
         # a test's stand-in page for a public site (the WordPress admin that frames the app)
         # must reach the app under test at 127.0.0.1, which Local Network Access would refuse
         "--disable-features=LocalNetworkAccessChecks"]
APP_BRIDGE_URL = "https://cdn.shopify.com/shopifycloud/app-bridge.js"


def app_bridge_stand_in(session_token: str) -> str:
    """What App Bridge does for an embedded app's own requests: ``shopify.idToken()`` and a
    ``fetch`` that adds ``Authorization: Bearer <session token>`` to requests to the app."""
    return f"""
      (() => {{
        const token = {session_token!r};
        window.shopify = {{ idToken: async () => token, config: {{}} }};
        const original = window.fetch.bind(window);
        window.fetch = (input, init = {{}}) => {{
          const url = new URL(typeof input === "string" ? input : input.url, window.location.href);
          if (url.origin !== window.location.origin) return original(input, init);
          const headers = new Headers(init.headers || (typeof input === "string" ? {{}} : input.headers));
          headers.set("Authorization", "Bearer " + token);
          return original(input, {{ ...init, headers }});
        }};
      }})();
    """


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Per module, not per session: Playwright's sync API keeps an asyncio loop running in this
    thread while it is open, and the dispatcher's own ``asyncio.run()`` refuses to start under it."""
    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):
        pytest.fail(f"Chromium is not installed at {CHROMIUM}: apt-get install -y chromium (.ci/run does)")
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield instance
        instance.close()


@pytest.fixture
def page(browser, ctx):
    """A fresh page whose requests leave only for the app under test (``ctx``'s server)."""
    base = ctx.config["TEST_BASE_URL"]
    context = browser.new_context(accept_downloads=True, base_url=base)
    stand_ins: dict[str, tuple[str, str]] = {}

    def route(request_route) -> None:
        url = request_route.request.url
        if url.startswith(base):
            request_route.continue_()
        elif url in stand_ins:
            content_type, body = stand_ins[url]
            request_route.fulfill(status=200, content_type=content_type, body=body)
        else:
            request_route.abort()

    context.route("**/*", route)
    tab = context.new_page()
    tab.stand_ins = stand_ins  # the test puts what a CDN would answer here
    yield tab
    context.close()
