"""Periodic housekeeping run by beat: locks and slots for every periodic task, file cleanup and
moderation escalation."""
