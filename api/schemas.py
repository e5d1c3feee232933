"""What the API takes and gives, as pydantic schemas (and so the OpenAPI document).

Inputs refuse unknown fields (``extra="forbid"``): a misspelt field is an error that says so,
never silently ignored.
"""

from datetime import datetime

from django.conf import settings
from ninja import Schema
from pydantic import ConfigDict, Field

from chat.message_read import MessageData


class Input(Schema):
    model_config = ConfigDict(extra="forbid")


class WorkspaceOut(Schema):
    id: int
    name: str
    role: str


class ThreadOut(Schema):
    id: int
    workspace_id: int
    title: str
    created_by: str | None
    created_at: datetime
    revision: int


class ThreadIn(Input):
    title: str = Field(min_length=1, max_length=200)


class MessageIn(Input):
    body: str = Field(
        min_length=1,
        max_length=settings.MESSAGE_MAX_LENGTH,
        description="Markdown; @mentions of assistants ask them to answer, as in the browser.",
    )


class AskIn(MessageIn):
    stop_on_disconnect: bool = Field(
        default=False,
        description="Stop the answer if this client disconnects (by default it goes on: "
        "other members may be watching it).",
    )


class MessagePageOut(Schema):
    messages: list[MessageData]
    has_earlier: bool = Field(description="Whether older messages exist: ask with ?before=.")
    before: int | None = Field(description="Pass as ?before= for the page before this one.")


class PostedOut(Schema):
    message: MessageData
    replies: list[MessageData] = Field(description="The answers it asked for, queued.")


class DocumentSummaryOut(Schema):
    id: int
    workspace_id: int
    title: str
    updated_at: datetime


class DocumentOut(DocumentSummaryOut):
    text: str
    can_edit: bool


class DocumentTextIn(Input):
    text: str = Field(description="The whole new text; applied as edits, so editors converge.")
