"""pypet's names for the storage wrap modes, for code that passes them to ``Environment``.

Every mode is accepted and means the same here: runs send their outcomes to the experiment's
single writer (the calling process), so no mode needs a lock or an extra queue process.
"""

WRAP_MODE_QUEUE = "QUEUE"
WRAP_MODE_LOCK = "LOCK"
WRAP_MODE_NONE = "NONE"
WRAP_MODE_PIPE = "PIPE"
WRAP_MODE_LOCAL = "LOCAL"
WRAP_MODE_NETLOCK = "NETLOCK"
WRAP_MODE_NETQUEUE = "NETQUEUE"
MULTIPROC_MODE_QUEUE = WRAP_MODE_QUEUE
MULTIPROC_MODE_LOCK = WRAP_MODE_LOCK
MULTIPROC_MODE_NONE = WRAP_MODE_NONE
WRAP_MODES = (WRAP_MODE_QUEUE, WRAP_MODE_LOCK, WRAP_MODE_NONE, WRAP_MODE_PIPE, WRAP_MODE_LOCAL,
              WRAP_MODE_NETLOCK, WRAP_MODE_NETQUEUE)  # fmt: skip
