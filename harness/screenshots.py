"""Screenshots of the real pages for the README, taken from a running installation.

With `make run` up: ``.venv/bin/python -m harness.screenshots`` adds a workspace "Launch"
(two more people, a few threads, a source, a document), logs in as ``admin`` with the
password in ``var/admin-password``, asks the assistant a question the source answers, waits
for the answer to end, and saves the thread at a laptop's and a phone's width, and the
document, under ``docs/screenshots/``. Run it on a new installation: it makes its scene
once.
"""

import argparse
import os
import time
from pathlib import Path

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

from django.conf import settings  # noqa: E402 - after django.setup()
from django.contrib.auth import get_user_model  # noqa: E402
from django.db import transaction  # noqa: E402
from playwright.sync_api import Page, ViewportSize, expect, sync_playwright  # noqa: E402

from chat.services import message_create, thread_create, thread_settings_update  # noqa: E402
from documents.services import document_create, document_rewrite  # noqa: E402
from harness.browser import CHROMIUM_ARGS, CHROMIUM_PATH  # noqa: E402
from knowledge.models import Source  # noqa: E402
from knowledge.services import source_add_file  # noqa: E402
from workspace.models import Membership, Workspace  # noqa: E402
from workspace.services import workspace_create  # noqa: E402

OUT_DIR = Path(settings.BASE_DIR) / "docs" / "screenshots"
ANSWER_TIMEOUT_MS = 180_000
LAPTOP = ViewportSize(width=1280, height=960)
PHONE = ViewportSize(width=390, height=844)

HANDBOOK = """# Launch handbook

## Release day
The release goes out on Thursday at 10:00 UTC. Maya runs the release checklist; Tom watches
the error dashboards for the first two hours and rolls back if the error rate doubles.

## Support
Support answers in the #help channel within four hours on working days. Anything about
billing goes to the finance team, never to engineering.
"""

PLAN = """Launch plan

1. Freeze the release branch on Tuesday.
2. Run the release checklist on Wednesday with the whole team.
3. Ship on Thursday at 10:00 UTC; Tom watches the dashboards.
"""

QUESTION = "@assistant when does the release go out, and who watches the dashboards?"


def scene_create() -> tuple[Workspace, int, int]:
    """The workspace, its busiest thread and its document, as a team would have them."""
    users = get_user_model().objects
    admin = users.get(username="admin")
    if Workspace.objects.filter(name="Launch").exists():
        raise SystemExit("A workspace “Launch” is here already: run this on a new installation.")
    maya, _ = users.get_or_create(username="maya", defaults={"first_name": "Maya"})
    tom, _ = users.get_or_create(username="tom", defaults={"first_name": "Tom"})
    with transaction.atomic():
        workspace = workspace_create(name="Launch", owner=admin)
        Membership.objects.bulk_create(
            [Membership(workspace=workspace, user=person) for person in (maya, tom)]
        )
        source_add_file(
            workspace=workspace,
            added_by=maya,
            name="launch-handbook.md",
            content_type="text/markdown",
            data=HANDBOOK.encode(),
        )
        for title in ("Support rota", "Pricing page copy"):
            thread = thread_create(workspace=workspace, title=title, created_by=tom)
            message_create(thread=thread, author=tom, body=f"Notes for {title.lower()} go here.")
        thread = thread_create(workspace=workspace, title="Release day", created_by=maya)
        thread_settings_update(  # greedy: the same answer each time the screenshots are taken
            thread=thread,
            by=maya,
            answers_unaddressed=False,
            answerer=None,
            system_prompt_override="",
            temperature_override=0.0,
            max_tokens_override=None,
        )
        message_create(thread=thread, author=maya, body="Release is on Thursday, checklist below.")
        message_create(thread=thread, author=tom, body="@maya I'll take the dashboards.")
        document = document_create(workspace=workspace, title="Launch plan", created_by=maya)
    document_rewrite(document_id=document.pk, text=PLAN, author=maya)
    return workspace, thread.pk, document.pk


def source_ready_wait(workspace: Workspace, timeout_s: float = 120) -> None:
    """Until the ingest worker has read the workspace's source: the answer should cite it."""
    deadline = time.monotonic() + timeout_s
    while Source.objects.filter(workspace=workspace).exclude(status=Source.Status.READY).exists():
        if time.monotonic() > deadline:
            raise SystemExit("The source was not indexed in time: is the ingest worker running?")
        time.sleep(0.5)


def log_in(page: Page, password: str) -> None:
    page.goto("/login/")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", password)
    page.press("input[name=password]", "Enter")
    page.wait_for_url(lambda url: "/login/" not in url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    port = os.environ.get("WEB_PORT", "8000")
    parser.add_argument("--origin", default=f"http://127.0.0.1:{port}")
    parser.add_argument("--password", default=None, help="admin's (default: var/admin-password)")
    args = parser.parse_args()
    password = args.password or (settings.VAR_DIR / "admin-password").read_text().strip()
    workspace, thread_id, document_id = scene_create()
    source_ready_wait(workspace)
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM_PATH, args=CHROMIUM_ARGS)
        page = browser.new_page(base_url=args.origin, viewport=LAPTOP)
        log_in(page, password)
        page.goto(f"/t/{thread_id}/")
        expect(page.locator("#connection")).to_have_attribute("data-state", "live")
        page.fill("#composer-body", QUESTION)
        page.press("#composer-body", "Enter")
        ended = page.locator("#transcript .message.assistant[data-status=done]")
        expect(ended).to_have_count(1, timeout=ANSWER_TIMEOUT_MS)
        page.screenshot(path=OUT_DIR / "thread.png")
        page.set_viewport_size(PHONE)
        page.screenshot(path=OUT_DIR / "thread-phone.png")
        page.set_viewport_size(LAPTOP)
        page.goto(f"/d/{document_id}/")
        expect(page.locator("#document-editor")).to_contain_text("Launch plan")
        expect(page.locator("#document-preview")).to_contain_text("Freeze the release branch")
        page.screenshot(path=OUT_DIR / "document.png")
        browser.close()
    print(f"Saved the screenshots in {OUT_DIR}")


if __name__ == "__main__":
    main()
