"""A small labelled corpus for recall@5: five Markdown files, and for each question the
heading of the one passage that answers it. Questions are worded as people ask, mostly not
with the passage's own words."""

DOCUMENTS = {
    "handbook.md": """# Handbook

## Holidays

Everyone gets twenty-seven days of paid leave each year, plus public holidays.

## Expenses

Submit receipts within thirty days; the finance team reimburses them monthly.

## Security

Laptops must use full-disk encryption and lock the screen after five minutes.

## Remote work

Staff may work from home up to three days a week after their probation period.

## Parental leave

New parents receive sixteen weeks at full pay, to be taken within the first year.
""",
    "widget-spec.md": """# Widget specification

## Power

The widget draws at most 42 milliwatts in standby mode and 3 watts when active.

## Thermal

Operating temperature ranges from minus 20 to plus 85 degrees Celsius.

## Part numbers

The replacement battery is part XK-4471; the charger is part ZQ-0093.

## Enclosure

The case is anodised aluminium, rated IP67 against dust and immersion.

## Firmware

Firmware updates install over USB-C and take about ninety seconds.
""",
    "cafeteria.md": """# Cafeteria

## Monday

Lentil soup, grilled vegetables and rice pudding.

## Tuesday

Chicken curry with basmati rice and a mango lassi.

## Wednesday

Vegetable lasagne with a green salad.

## Thursday

Beef stew with dumplings, and a vegan chickpea stew.

## Friday

Fish and chips with mushy peas, and apple crumble for dessert.
""",
    "release-process.md": """# Release process

## Branching

Every release is cut from main into a branch named release/ followed by the version.

## Freeze

Two days before a release only fixes for blocking bugs are merged.

## Sign-off

The product owner and one engineer on call must approve the release notes.

## Rollback

If error rates double within an hour of deploying, the previous build is restored.

## Announcements

Customers hear about a release in the changelog and a short email on the same day.
""",
    "office-guide.md": """# Office guide

## Wi-Fi

The guest network is called Orchard and its password changes every Monday.

## Parking

Twelve spaces behind the building are reserved for visitors and car sharing.

## Printing

The printer on the second floor prints double-sided unless told otherwise.

## Fire safety

The assembly point is the car park across the road, next to the bakery.

## Deliveries

Parcels are held at reception until five in the afternoon.
""",
}

# question -> the heading of the passage that answers it (as locator labels read)
LABELLED = {
    "How many vacation days do employees get?": "Handbook › Holidays",
    "how do I get my money back for a business purchase": "Handbook › Expenses",
    "What must be done to protect a laptop?": "Handbook › Security",
    "can I do my job from my kitchen": "Handbook › Remote work",
    "time off after having a baby": "Handbook › Parental leave",
    "How much electricity does it use when idle?": "Widget specification › Power",
    "how hot can the device get": "Widget specification › Thermal",
    "XK-4471": "Widget specification › Part numbers",
    "is it waterproof": "Widget specification › Enclosure",
    "how long does a software update of the widget take": "Widget specification › Firmware",
    "which day is there crumble for dessert": "Cafeteria › Friday",
    "soup": "Cafeteria › Monday",
    "when is there Indian food": "Cafeteria › Tuesday",
    "pasta day": "Cafeteria › Wednesday",
    "is there a plant-based option on Thursday": "Cafeteria › Thursday",
    "what is the name of a release branch": "Release process › Branching",
    "when do we stop merging features before shipping": "Release process › Freeze",
    "who has to approve a release": "Release process › Sign-off",
    "what happens if errors go up after a deploy": "Release process › Rollback",
    "how are customers told about a new version": "Release process › Announcements",
    "guest wireless password": "Office guide › Wi-Fi",
    "where can visitors leave their car": "Office guide › Parking",
    "does the printer print on both sides": "Office guide › Printing",
    "where do we gather if the alarm goes off": "Office guide › Fire safety",
    "until when can I pick up a package": "Office guide › Deliveries",
}
