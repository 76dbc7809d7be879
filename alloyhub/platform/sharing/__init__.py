"""The consent ledger: every share between companies, whatever module made it.

A share is one record: grantor (the company whose object it is), grantee (a
company, an alliance, or every subscriber), scope (kind of object, one object
or all of that kind, the module that made it), window (from/until) and state
(active/revoked/expired). It is revoked in one place, the Sharing page, and
every read made under it lands in an activity feed the grantor sees.

Two layers read it, like tenant isolation itself:
1. the ORM: modules ask `services.may_see(...)`, `services.visible_clause(...)`;
2. PostgreSQL: the row-level security policy of a shared table calls
   `ah_may_see(owner, kind, id)`, an SQL function over the same records (see
   the migration `0010_sharing_spares`), so a company's session sees exactly
   the rows shared with it, whatever query the application sends.
"""
