"""One file per schema revision: ``NNNN_what.py``, ``revision = "NNNN"``; frozen once shipped."""
