"""How a person appears to the others in a document: a name and a colour of their own."""

# Distinct on a white page and under white text (cursor labels), in a stable order.
PALETTE = (
    "#2563eb", "#db2777", "#16a34a", "#ea580c", "#7c3aed",
    "#0891b2", "#ca8a04", "#dc2626", "#4f46e5", "#059669",
)  # fmt: skip


def person_colour(user_id: int) -> str:
    """The same colour for a person in every document and on every replica."""
    return PALETTE[user_id % len(PALETTE)]
