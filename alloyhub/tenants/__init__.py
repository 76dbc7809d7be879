"""One plant's own workspace: the MES modules of a tenant."""
