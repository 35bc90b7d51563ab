"""The identity-vigilance worklist: every answer that asks a person to look, from every application.

One gateway sees every INSi call of the hospital, so it is the one place where the
identity-vigilance cell can see in one list every identity a person must check.
:mod:`.events` derives events from the answers the interfaces already built,
:mod:`.store` keeps them (no identity trait in clear: trait *names*, the keyed hash
of the INS), :mod:`.reviewers` holds the people who may read them, and
:mod:`.indicators` the weekly quality figures the cell follows.
"""
