"""The one event contract: every event type a topic carries, as a typed model, registered once.

An event type is a pydantic model that subclasses ``EventModel`` and names its ``type``
(``"chat.message"``); defining the class registers it. Each app defines its own in its
``events.py`` (``realtime.apps`` imports them all at start-up), so the registry is complete
in every process, while realtime itself knows no domain model: an event is plain data.

``publish`` takes only these models, so an event is validated when it is made, before it
leaves the process; whoever receives one (a renderer, a stream) reads it back with
``event_parse``. Events a process makes for its own sockets (a transcript after a lost
connection, say) are never published and are not registered.
"""

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

_registry: dict[str, type["EventModel"]] = {}
# Keys the channel layer adds to an event on its way: not part of any event's schema.
_ENVELOPE = frozenset({"type", "topic"})


class EventModel(BaseModel):
    """One event type's schema. Subclasses that set ``type`` are registered as they are
    defined; intermediate bases (fields shared by several types) set none."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    type: ClassVar[str]

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        if "type" not in cls.__dict__:
            return
        known = _registry.get(cls.type)
        if known is not None and known.__qualname__ != cls.__qualname__:
            raise ValueError(f"Event type {cls.type} is defined twice: {known} and {cls}")
        _registry[cls.type] = cls

    def to_wire(self) -> dict[str, Any]:
        """The event as the channel layer carries it: its fields and its ``type``."""
        return {"type": self.type, **self.model_dump()}


def event_types() -> dict[str, type[EventModel]]:
    """Every registered event type, by name."""
    return dict(_registry)


def event_parse(data: dict[str, Any]) -> EventModel:
    """The event a published dict carries, validated against its type's schema."""
    cls = _registry[data["type"]]
    return cls.model_validate({key: value for key, value in data.items() if key not in _ENVELOPE})
