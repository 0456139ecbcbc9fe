"""Pure polars: every function takes frames, `Policy` and `Divisions` as arguments and
returns frames or plain values; nothing here reads a file, a clock it was not given, the
warehouse or Prefect (`tests/transforms/test_reads_no_files.py`).

Public modules (each one idea; see its docstring):
"""

__all__ = [
    "alerts",  # what each township is told, and when
    "evidence",  # the evidence rows of a finding (list of struct)
    "exports",  # the export contracts of outputs.md
    "identity",  # identity resolution across sources
    "ids",  # resident ID numbers
    "indicators",  # assessment indicators (a package)
    "intake",  # a parsed file into canonical rows
    "privacy",  # masks, scrubbers, the formula guard
    "reconcile",  # the night's reconciliation: links, rules, findings
    "rules",  # R01..R15, one function each
    "submissions",  # what a township's new roster would change
    "values",  # values that cannot be right
]
