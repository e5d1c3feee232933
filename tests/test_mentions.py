import pytest

from chat.mentions import mentions_assistant


@pytest.mark.parametrize(
    "body",
    ["@assistant hi", "hey @assistant, what now?", "@Assistant?", "ping\n@assistant"],
)
def test_a_mention_of_the_assistant_is_recognised(body):
    assert mentions_assistant(body)


@pytest.mark.parametrize(
    "body",
    ["assistant hi", "mail me@assistant.com", "@assistants unite", "@assistant-bot", "@@x"],
)
def test_words_that_only_look_like_a_mention_are_not(body):
    assert not mentions_assistant(body)


def test_the_assistants_name_is_configurable(settings):
    settings.ASSISTANT_NAME = "sage"
    assert mentions_assistant("@sage help")
    assert not mentions_assistant("@assistant help")
