"""Alarms: rules per tag, ISA-18.2 alarm states, history, notifications."""
