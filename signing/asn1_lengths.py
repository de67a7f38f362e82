"""A fix for asn1crypto 1.5.1 (the newest release): its ``dump`` treats any header whose last
octet is 0x80 as a BER indefinite length and re-encodes the whole value from its parts — also
for a definite length that merely ends in 0x80 (128, 384, 640 ... bytes). pyHanko dumps the
CMS signature several times while packaging it, so a signature in which some length happens
to end in 0x80 took 15-35 s instead of 0.1 s (wbond/asn1crypto#249, #256; fix proposed
upstream). Seen as portal receipts that sometimes took half a minute to seal.

``apply()`` rebuilds the five ``dump`` methods from asn1crypto's own source with a correct test
(the last tag-length pair is indefinite only when its length is the single octet 0x80). If the
installed asn1crypto no longer has the faulty test, nothing is changed.
"""

from __future__ import annotations

import inspect
import textwrap

FAULTY_TEST = "self._header[-1:] == b'\\x80'"


def ends_with_indefinite_length(header: bytes) -> bool:
    """True if the last tag-length pair of ``header`` (an explicit tag's header followed by the
    inner one, or just one) has BER's indefinite length."""
    i, indefinite = 0, False
    while i < len(header):
        first = header[i]
        i += 1
        if first & 0x1F == 0x1F:  # high tag number form: tag octets until one without bit 8
            while i < len(header) and header[i] & 0x80:
                i += 1
            i += 1
        if i >= len(header):
            return False
        octet = header[i]
        i += 1
        indefinite = octet == 0x80
        if octet > 0x80:  # long form: that many length octets follow
            i += octet & 0x7F
    return indefinite


def apply() -> int:
    """Patch asn1crypto's ``dump`` methods once; returns how many were patched."""
    from asn1crypto import core

    if getattr(core, "_diwan_lengths_fixed", False):
        return 0
    namespace = dict(vars(core), ends_with_indefinite_length=ends_with_indefinite_length)
    patched = 0
    for cls in (core.Asn1Value, core.Choice, core.Primitive, core.Sequence, core.SequenceOf):
        source = textwrap.dedent(inspect.getsource(cls.__dict__["dump"]))
        if FAULTY_TEST not in source:
            continue
        source = source.replace(FAULTY_TEST, "ends_with_indefinite_length(self._header)")
        exec(compile(source, core.__file__, "exec"), namespace)  # noqa: S102 - asn1crypto's code
        cls.dump = namespace["dump"]
        patched += 1
    core._diwan_lengths_fixed = True
    return patched
