"""PDF signatures (PAdES with pyHanko): keys, stamps, validation. Never imports Flask.

Empty until the signature work lands; see docs/architecture.md.
"""
