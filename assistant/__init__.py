"""The assistant's answers in threads: the model job that reads a thread and the workspace's
knowledge and writes the reply (chat holds the conversation, knowledge the sources; this app
stands above both)."""
