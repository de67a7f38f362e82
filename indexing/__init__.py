"""Text extraction, Arabic/French/English analysis and the search backends. Never imports Flask.

Empty until the search work lands; see docs/architecture.md.
"""
