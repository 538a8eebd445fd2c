"""The four SharedMemoryArray examples of the ataraxis-data-structures 3.1 README, run here.

Each function below holds one README example, its code line for line with only the import
changed (the comments are ours). Each runs in a fresh interpreter, as a reader runs them one at
a time: the later examples create 'unique_buffer' again without exist_ok, which works only
because the process before ended (its arrays are removed when their creator exits).

Run: python examples/ads31_shared_memory_array.py
"""

import multiprocessing


def array_creation() -> None:
    from ataraxis_like import SharedMemoryArray  # was: ataraxis_data_structures
    import numpy as np

    # The prototype fixes the array's shape and dtype; the name is how other processes find it.
    prototype = np.array([1, 2, 3, 4, 5, 6], dtype=np.uint64)
    buffer_name = 'unique_buffer'

    # exist_ok=True replaces an array of this name left by a dead process or made earlier by
    # this one (a re-run cell); one a live process still uses is refused.
    sma = SharedMemoryArray.create_array(name=buffer_name, prototype=prototype, exist_ok=True)

    # The handle knows its name, shape and dtype.
    assert sma.name == buffer_name
    assert sma.shape == prototype.shape
    assert sma.datatype == prototype.dtype

    # Unmap it here, then remove it: removal is the creator's act, connected or not.
    sma.disconnect()
    sma.destroy()


def connection() -> None:
    import numpy as np

    from ataraxis_like import SharedMemoryArray  # was: ataraxis_data_structures

    # A new array of six zeros.
    prototype = np.zeros(shape=6, dtype=np.uint64)
    buffer_name = "unique_buffer"
    sma = SharedMemoryArray.create_array(name=buffer_name, prototype=prototype)

    # The creator is connected already; connecting again changes nothing.
    sma.connect()

    # is_connected says whether this handle maps the array in this process.
    assert sma.is_connected

    # Unmapping here leaves the array to every other process (and to this one's exit).
    sma.disconnect()  # For each connect(), there has to be a matching disconnect() statement

    assert not sma.is_connected


def reading() -> None:
    import numpy as np
    from ataraxis_like import SharedMemoryArray  # was: ataraxis_data_structures

    # A new array holding 1..6.
    prototype = np.array([1, 2, 3, 4, 5, 6], dtype=np.uint64)
    buffer_name = "unique_buffer"
    sma = SharedMemoryArray.create_array(name=buffer_name, prototype=prototype)
    sma.connect()

    # One element comes back as a numpy scalar of the array's dtype.
    output = sma.read_data(index=2)
    assert output == np.uint64(3)
    assert isinstance(output, np.uint64)

    # (start, stop) reads a slice, (start,) reads to the end; without the lock here.
    output = sma.read_data(index=(1, 4), convert_output=False, with_lock=False)
    assert np.array_equal(output, np.array([2, 3, 4], dtype=np.uint64))
    assert isinstance(output, np.ndarray)


def writing() -> None:
    import numpy as np
    from ataraxis_like import SharedMemoryArray  # was: ataraxis_data_structures

    # A new array holding 1..6.
    prototype = np.array([1, 2, 3, 4, 5, 6], dtype=np.uint64)
    buffer_name = "unique_buffer"
    sma = SharedMemoryArray.create_array(name=buffer_name, prototype=prototype)
    sma.connect()

    # A Python int is stored in the array's dtype (a value that would not fit is refused).
    sma.write_data(index=1, data=7, with_lock=True)
    assert sma.read_data(index=1, convert_output=True) == 7

    # A list fills a slice; convert_output=True reads back Python values.
    sma.write_data(index=(1, 3), data=[10, 11], with_lock=False)
    assert sma.read_data(index=(0,), convert_output=True) == [1, 10, 11, 4, 5, 6]


EXAMPLES = (array_creation, connection, reading, writing)

if __name__ == "__main__":
    context = multiprocessing.get_context("spawn")
    for example in EXAMPLES:
        process = context.Process(target=example)
        process.start()
        process.join()
        print(f"{example.__name__}: {'ran' if process.exitcode == 0 else 'FAILED'}")
        if process.exitcode != 0:
            raise SystemExit(1)
