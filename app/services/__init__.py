"""Domain services: the only code that changes state.

Each public operation takes ``(session, actor, ...)``, never the request, runs as one transaction
and appends its audit event inside that transaction.
"""
