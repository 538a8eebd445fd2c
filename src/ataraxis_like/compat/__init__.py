"""Facades for code written against other recorders: change the import, keep the code.

- ``ataraxis_like.compat.record_keeper``: the record keeper (pip ``rigorous-recorder``):
  ``Recorder``, ``RecordKeeper``, ``ExperimentCollection``.
- ``ataraxis_like.compat.keyed_recorder``: SimRecorder: ``Recorder``, ``InMemoryDataStore``,
  ``HDF5DataStore``, ``RedisDataStore``.
- ``ataraxis_like.compat.h5pyswmr``: h5pySWMR: ``File``, ``Group``, ``Dataset``, ``locking``
  (files opened per call under our readers-writer lock).

Both have a ``Recorder`` class, so import from the submodule you migrate from.
ataraxis-data-structures code needs no facade: its names are at ``ataraxis_like``'s top level.
"""
