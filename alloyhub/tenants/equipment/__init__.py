"""Equipment: the ISA-95 hierarchy (site → area → line/work centre → unit), unit
capabilities, shift calendars, planned downtime and each unit's live state."""
