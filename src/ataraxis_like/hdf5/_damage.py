"""What the heap check found wrong in a file's stored bytes, before it becomes a SinkReadError."""

from __future__ import annotations


class DamageError(ValueError):
    """Bytes at ``offset`` (from the start of the file) are not what an intact file holds:
    ``expected`` says what should be there, ``got`` what is."""

    def __init__(self, offset: int, expected: str, got: str) -> None:
        super().__init__(f"at byte {offset}: expected {expected}, got {got}")
        self.offset, self.expected, self.got = offset, expected, got


class MissingObjectError(DamageError):
    """A value refers to an object its collection does not hold: damage, or in a file a writer
    still appends to, an object not flushed yet when the reader looked."""
