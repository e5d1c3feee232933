"""A larger labelled corpus for recall@5: eight documents of four kinds (Markdown, HTML, plain
text and a PDF with a text layer) on unrelated subjects, and 58 questions.

Each question is labelled with a phrase that only the passage answering it contains, so the
label holds however the document is cut into passages (a page, a run of lines, a section).
Questions are worded as people ask, mostly not with the passage's own words; a few are the
bare keyword someone would type.
"""

from harness.pdf import pdf_make

ONBOARDING_MD = """# Engineering onboarding

## Accounts

On your first morning the service desk gives you a temporary password for the directory
account. Change it before noon: temporary passwords expire at 12:00 on the day they are issued.
Your directory account opens email, the wiki, the code host and the expense tool.

## Two-factor authentication

Every account needs a second factor. Register a hardware key at the service desk; phone
authenticator apps are accepted only as a backup. SMS codes are not allowed for any system.

## VPN

Connect through the VPN client called Tunnelmole before opening internal dashboards. It chooses
the nearest gateway by itself; the Singapore gateway is reserved for the support team.

## Laptop

Engineers get a 14-inch laptop with 32 GB of memory. A second monitor can be ordered from the
equipment catalogue, and a standing desk needs a note from occupational health.

## Code review

Every change needs one approving review before it merges. Changes to billing code need two
reviewers, one of them from the payments team.

## Buddy

Each newcomer is paired with a buddy from a neighbouring team for the first six weeks; you meet
them for coffee every Thursday.

## Learning budget

You can spend up to 1,200 euros a year on courses, books and conferences; ask your manager
before booking anything above 300 euros.
"""

RUNBOOK_HTML = """<!doctype html>
<html><head><title>Incident runbook</title></head>
<body><article>
<h1>Incident runbook</h1>
<h2>Severity levels</h2>
<p>A SEV1 is a full outage or data loss for many customers; a SEV2 is a major feature broken
for some customers; a SEV3 is a minor bug with a workaround. Only SEV1 and SEV2 page anyone.</p>
<h2>Paging</h2>
<p>The on-call engineer is paged through the rota tool and must acknowledge within fifteen
minutes. Without an acknowledgement the page escalates to the secondary, then to the
engineering manager.</p>
<h2>Incident commander</h2>
<p>For every SEV1 someone other than the person fixing the problem takes the incident commander
role: they run the call, keep the timeline and decide when to roll back.</p>
<h2>Status page</h2>
<p>Customer support updates the public status page within thirty minutes of a SEV1 being
declared, and then every hour until it is resolved.</p>
<h2>Postmortem</h2>
<p>A blameless postmortem is written for every SEV1 and SEV2 within five working days, and
reviewed at the Tuesday reliability meeting.</p>
<h2>On-call pay</h2>
<p>Each week on call earns a flat allowance of 250 euros, plus time off in lieu for any page
answered between midnight and six in the morning.</p>
<h2>Handover</h2>
<p>The rota changes on Mondays at ten; the outgoing engineer writes a handover note listing open
alerts, silenced monitors and anything flaky.</p>
</article></body></html>
"""

TRAVEL_TXT = """Travel policy

Book all flights through the travel portal at least fourteen days ahead. Economy class is
the rule; business class is allowed only for flights longer than eight hours.

Hotels are reimbursed up to 160 euros a night in most cities and up to 240 euros a night in
London, Paris, New York and Tokyo. Breakfast may be included in the room rate.

While travelling you receive a daily allowance of 45 euros for meals. No receipts are needed
for the allowance, but alcohol is never reimbursed separately.

Trains are preferred to flights for any journey under four hours. First class rail is allowed
when you will work during the trip.

Using your own car is paid at 30 cents per kilometre; parking and tolls are reimbursed with
receipts. Taxis are fine at night or when carrying equipment.

Travel insurance is provided by the company for every business trip. Call the assistance line
printed on your badge if you fall ill abroad.

Visa costs and vaccinations needed for a trip are paid by the company; ask the travel desk at
least a month in advance because some embassies are slow.

Submit your travel expenses within thirty days of coming back. Claims older than ninety days
are refused.
"""

PRODUCT_FAQ_MD = """# Notebook app FAQ

## Pricing

The free plan holds up to 500 notes. The Plus plan costs 4 euros a month, or 40 euros a year,
and removes the limit.

## Offline

Notes you opened in the last thirty days are kept on the device and can be edited without a
connection; changes sync when you are back online.

## Export

You can export every note as Markdown or PDF from Settings, Data, Export. Attachments come out
in a separate folder next to the notes.

## Sharing

A note can be shared with a link that expires after seven days, or with named people who can
then comment or edit.

## Deleted notes

Deleted notes stay in the bin for thirty days and can be restored from there; after that they
are erased for good.

## Supported systems

The app runs on Android 12 or newer, iOS 16 or newer, and in any current browser. There is no
desktop application for Linux.

## Cancelling

Cancel the Plus plan at any time from the account page; you keep Plus until the end of the
period you paid for, and no partial refunds are made.
"""

LAB_SAFETY_PAGES = [
    "Laboratory safety rules\n"
    "Safety goggles must be worn at all times inside the laboratory, including while\n"
    "writing notes. Prescription glasses are not a substitute; over-glasses are\n"
    "available at the entrance. Long hair must be tied back.",
    "Chemical storage\n"
    "Acids and bases are kept in separate ventilated cabinets under the benches.\n"
    "Flammable solvents live in the yellow fireproof cabinet, never more than\n"
    "five litres outside it at once. Label every bottle with the date it was opened.",
    "Spills\n"
    "For a small acid spill, cover it with the sodium bicarbonate from the red bucket,\n"
    "wait for the fizzing to stop and sweep it up. For anything larger than a cup,\n"
    "leave the room, close the door and call the safety officer on extension 4410.",
    "Waste\n"
    "Halogenated and non-halogenated solvents go into different waste drums. Broken\n"
    "glass goes into the cardboard glass box, never into the ordinary bins. Waste\n"
    "drums are collected every second Wednesday.",
    "Working alone\n"
    "Nobody may work in the laboratory alone after 7 pm or at weekends. Sign the\n"
    "lone-worker sheet at the door and make sure a colleague knows when you expect\n"
    "to finish.",
    "First aid\n"
    "The eye-wash station is next to the sink by the window; rinse for at least\n"
    "fifteen minutes. The first-aid kit and burn gel are in the white cabinet by the\n"
    "door, and the nearest defibrillator is in the corridor by the lifts.",
]

GARDEN_HTML = """<!doctype html>
<html><head><title>Community garden newsletter</title></head>
<body><main>
<h1>Community garden newsletter</h1>
<h2>Plots</h2>
<p>Each member household rents one raised bed of two by four metres for 35 euros a season.
The waiting list opens on the first of February.</p>
<h2>Watering</h2>
<p>The hoses are shared: the north beds water on even dates and the south beds on odd dates,
before nine in the morning or after six in the evening during a heatwave.</p>
<h2>Tool shed</h2>
<p>Spades, forks and wheelbarrows are in the green shed behind the greenhouse. The padlock code
is 3817 and changes at the start of every season.</p>
<h2>Compost</h2>
<p>Fruit and vegetable peelings, coffee grounds and dry leaves go into the compost bays. No
meat, dairy or cooked food, because they attract rats.</p>
<h2>Work days</h2>
<p>Every member gives four hours a season on the shared work days, usually the last Saturday
of the month, to weed paths and mend the fences.</p>
<h2>Harvest festival</h2>
<p>The harvest festival is on the second Sunday of September, with a soup made from everyone's
vegetables and a prize for the largest pumpkin.</p>
</main></body></html>
"""

API_CHANGELOG_MD = """# API changelog

## Version 3.0

Authentication moves from API keys to OAuth client credentials; API keys stop working on
31 March. Every response now carries a request id header called X-Request-Id.

## Version 2.4

Listing endpoints are paginated with cursors instead of page numbers: pass the next_cursor
value from one response to get the following page. At most 200 items come back per page.

## Version 2.3

The rate limit rises to 600 requests a minute per client. Clients over the limit receive a
429 status with a Retry-After header saying how many seconds to wait.

## Version 2.2

Webhooks are signed with HMAC-SHA256 over the raw body; the signature is in the
X-Signature header and the shared secret is shown once when the webhook is created.

## Version 2.1

The invoices endpoint is deprecated in favour of billing documents, and will be removed in
version 3.1. Amounts are now integers in cents, never floating point.

## Version 2.0

Dates and times are ISO 8601 strings in UTC everywhere. Deleting a customer is now a soft
delete that can be undone within fourteen days.
"""

BAKERY_TXT = """Notes from the bakery course

A basic country loaf uses 1000 grams of flour, 750 grams of water, 200 grams of active
sourdough starter and 22 grams of salt. Mix the flour and water first and let it rest for an
hour before adding the rest.

Feed the starter twice a day with equal weights of flour and water. It is ready to use when it
has doubled in about five hours and a spoonful floats in water.

Bulk fermentation takes four to six hours at 24 degrees. Stretch and fold the dough every
half hour for the first two hours.

Shape the loaf, put it in a floured basket and leave it in the refrigerator overnight; the
cold slows the yeast and gives a sourer taste.

Bake in a preheated cast-iron pot at 250 degrees: twenty minutes with the lid on, then
twenty-five minutes with the lid off until the crust is deep brown.

Let the bread cool for at least an hour before cutting, or the crumb turns gummy.

If the loaf spreads flat, the dough was over-proofed or too wet; use less water next time
or shorten the bulk fermentation.

Stale bread makes good croutons: cube it, toss it with olive oil and bake at 180 degrees for
ten minutes.
"""

# file name -> (media type, content); the PDF is made from its pages when the corpus is loaded
DOCUMENTS: dict[str, tuple[str, str | list[str]]] = {
    "onboarding.md": ("text/markdown", ONBOARDING_MD),
    "incident-runbook.html": ("text/html", RUNBOOK_HTML),
    "travel-policy.txt": ("text/plain", TRAVEL_TXT),
    "notebook-faq.md": ("text/markdown", PRODUCT_FAQ_MD),
    "lab-safety.pdf": ("application/pdf", LAB_SAFETY_PAGES),
    "garden-newsletter.html": ("text/html", GARDEN_HTML),
    "api-changelog.md": ("text/markdown", API_CHANGELOG_MD),
    "bakery-course.txt": ("text/plain", BAKERY_TXT),
}


def document_bytes(content: str | list[str]) -> bytes:
    """A document's bytes: the text itself, or a PDF made from its pages."""
    return pdf_make(content) if isinstance(content, list) else content.encode()


# question -> a phrase found only in the passage that answers it (compared with runs of
# whitespace made single spaces, however the parser broke the lines)
LABELLED = {
    # onboarding.md
    "when does my first-day password stop working": "temporary passwords expire",
    "can I use text message codes to log in": "SMS codes are not allowed",
    "which program do I use to reach internal dashboards from home": "Tunnelmole",
    "how much RAM does a developer machine have": "32 GB of memory",
    "how many approvals for a change to payments": "two reviewers",
    "who helps me settle in during my first weeks": "paired with a buddy",
    "money for training and conferences": "1,200 euros a year",
    # incident-runbook.html
    "what counts as the most serious incident": "full outage or data loss",
    "how quickly must on-call respond to an alert": "acknowledge within fifteen",
    "who runs the call during a big outage": "incident commander",
    "when do customers hear about an outage": "public status page",
    "do we write a report after an incident": "blameless postmortem",
    "extra money for being on call": "flat allowance of 250 euros",
    "when does the on-call shift change": "rota changes on Mondays",
    # travel-policy.txt
    "can I fly business class": "business class is allowed",
    "hotel budget in Paris": "240 euros a night",
    "how much do I get per day for food on a trip": "daily allowance of 45 euros",
    "should I take the train or a plane": "Trains are preferred",
    "mileage rate for driving my own vehicle": "30 cents per kilometre",
    "what if I get sick on a business trip abroad": "assistance line",
    "who pays for a visa": "Visa costs",
    "deadline for claiming travel costs": "within thirty days of coming back",
    # notebook-faq.md
    "how many notes can I keep without paying": "holds up to 500 notes",
    "does it work without internet": "without a connection",
    "can I download all my notes": "export every note",
    "how long does a shared link last": "expires after seven days",
    "I deleted a note by mistake, can I get it back": "stay in the bin",
    "is there a Linux desktop app": "no desktop application for Linux",
    "do I get money back if I stop my subscription": "no partial refunds",
    # lab-safety.pdf
    "do I need eye protection while taking notes in the lab": "Safety goggles must be worn",
    "where are flammable liquids stored": "yellow fireproof cabinet",
    "what to do about spilled acid": "sodium bicarbonate",
    "where does broken glass go": "cardboard glass box",
    "can I stay in the lab on Saturday by myself": "lone-worker sheet",
    "chemical in my eye": "eye-wash station",
    "phone number of the safety officer": "extension 4410",
    "when are the waste drums picked up": "every second Wednesday",
    # garden-newsletter.html
    "how much does a garden bed cost": "35 euros a season",
    "which days can I water the south beds": "south beds on odd dates",
    "combination for the shed lock": "3817",
    "can I put leftover chicken in the compost": "No meat, dairy or cooked food",
    "how many volunteer hours are expected": "four hours a season",
    "when is the pumpkin contest": "largest pumpkin",
    "when can I join the waiting list for a plot": "waiting list opens",
    # api-changelog.md
    "API keys are going away, what replaces them": "OAuth client credentials",
    "how do I get the next page of results": "next_cursor",
    "how many requests per minute am I allowed": "600 requests a minute",
    "what happens when I send too many requests": "Retry-After",
    "how do I verify that a webhook really came from you": "HMAC-SHA256",
    "is the invoices endpoint going to be removed": "invoices endpoint is deprecated",
    "what time zone are timestamps in": "ISO 8601 strings in UTC",
    "can a deleted customer be restored": "soft delete",
    # bakery-course.txt
    "how much salt goes in the bread": "22 grams of salt",
    "how do I know the sourdough starter is ready": "spoonful floats",
    "how long should the dough rise at room temperature": "Bulk fermentation takes",
    "oven temperature for baking the loaf": "250 degrees",
    "why is my bread flat": "over-proofed",
    "what to do with old bread": "croutons",
}
