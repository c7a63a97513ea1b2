"""The Enterprise Manager edge: filter building, response decoding, the HTTP client and the source.

`alertd.em.filters`, `alertd.em.decode` and `alertd.em.jobs` are pure; `alertd.em.client` and
`alertd.em.transport` do the I/O; `alertd.em.source.EMSource` answers the pipeline's questions
(`alertd.source.Source`) with them, and `alertd.em.probe` checks an EM for ``--probe``.
"""
