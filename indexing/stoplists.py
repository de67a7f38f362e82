"""Small stop lists, normalised (see `analysis.normalise`), applied to index and query alike.

Kept short on purpose: only words so frequent that they carry no meaning in a letter. Words that
normalise to a common name are left out (على becomes علي, the first name Ali), and so are words
with a second meaning in the other language ("est", the east; "us", the United States).
"""

from __future__ import annotations

# Arabic function words, already normalised (أ/إ → ا, ى → ي).
ARABIC = frozenset(
    """
    في من الي عن ان لا لم لن ما قد مع او ثم هذا هذه ذلك تلك التي الذي الذين اللذين اللتين
    هو هي هم هن نحن انا انت انتم كان كانت لقد حيث عند ايضا اي ولا وفي ومن
    """.split()  # noqa: SIM905 - a word list reads best as words
)

FRENCH = frozenset(
    """
    le la les l un une des du de d au aux a et ou en par pour sur dans avec sans sous ce cet cette
    ces se sa son ses leur leurs qui que qu dont ne n pas il elle ils elles je j me m te t vous nous
    on y c s
    """.split()  # noqa: SIM905 - a word list reads best as words
)

ENGLISH = frozenset(
    """
    a an the and or of to in on at by for with from as is are was were be been it its this that
    these those not i me my we our you your he she they them their his her
    """.split()  # noqa: SIM905 - a word list reads best as words
)

STOP_WORDS = ARABIC | FRENCH | ENGLISH
