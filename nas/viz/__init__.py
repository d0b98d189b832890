"""Pictures: architecture drawings (`draw`) and search plots (`plots`), with matplotlib.

May import `db` and `nas.ir`; never torch, never the CLI.
"""
