"""Workspaces, their members and invitations: the domain every feature app builds on."""
