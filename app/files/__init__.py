"""Files: how Diwan receives, stores and shows documents it does not trust.

Pure Python on purpose (no Flask, nothing else from ``app``) so it can be tested, reused by
command-line tools and reasoned about on its own. Hostile-file work (parsing PDFs, decoding images,
rendering pages) never happens in the web process: it runs in ``sandbox`` child processes with
memory and CPU limits.
"""
