"""Industry spare-parts sharing (a cross-company room): a plant's own stock,
what it shares through the consent ledger (platform/sharing) and on which
terms, the industry catalogue searched through platform/search, requests,
loans and exchanges between companies, attachments in platform/storage,
below-minimum alerts and "wanted" posts.

Files: models (tables), stock (own stock, moves, import), listings (sharing
decision, terms, the catalogue's reads), index (search documents), catalogue
(search with live availability), requests (the workflow between companies),
attachments, wanted (alerts and posts), demo (seed data), api, views.
"""
