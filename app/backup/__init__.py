"""Backup and restore: one encrypted archive holding a consistent snapshot of the database, the
file store's objects and the installation's SECRET_KEY (under which the organisations' keys are
encrypted in the database), with a manifest of versions, counts and hashes.

- `sealed.py`: the encrypted, authenticated stream (scrypt, AES-256-GCM per 1 MiB record)
- `database.py`: SQLite's online backup / pg_dump of an exported snapshot; pg_restore
- `facts.py`: what a snapshot holds (counts, chains' heads, counters, referenced files)
- `create.py`, `reading.py`, `restore.py`, `checks.py`: make, read, restore, check
- `cli.py`: `diwan backup create|restore|verify`
"""
