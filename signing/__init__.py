"""PDF signatures with pyHanko, framework-free: it never imports Flask or anything from app/.

- ``pki``: keys, the organisation CA, signatory / seal / time-stamping certificates, CRLs,
  PKCS#12 import; ``keystore``: a key encrypted under a secret the server never stores;
  ``pkcs11``: keys in a token (SoftHSM2 in the tests).
- ``signer``: a fast in-memory pyHanko signer; ``pades``: PAdES B-B, B-T, B-LT, B-LTA as
  incremental updates; ``timestamps``: Diwan's own RFC 3161 time-stamp authority.
- ``stamp`` (+ ``bidi``, ``fonts``): the visible stamp, Arabic shaped and drawn as outlines.
- ``validation``: a strict verdict for any PDF; ``isolation``: the same in a child process with
  time and memory limits; ``python -m signing validate FILE.pdf`` for operators.
"""

from signing import asn1_lengths

asn1_lengths.apply()  # before any signature is made or read: see the module
