"""The Enterprise Manager edge: filter building, response decoding and the HTTP client.

`alertd.em.filters` and `alertd.em.decode` are pure; `alertd.em.client` does the I/O.
"""
