"""A pypet-shaped face over ``ataraxis_like.experiment``: code written for pypet's
``Environment`` runs with only its imports changed (docs/migrating-from-pypet.md).

``Environment`` builds an ``Experiment`` from the trajectory's parameters and exploration and
runs the job function through it: results land in our HDF5 layout, every run is resumable,
and the job receives a ``SingleRun`` with pypet's natural naming (``traj.x``, ``traj.par.x``,
``traj.v_idx``, ``traj.f_add_result``).
"""

from . import pypetconstants
from ._environment import Environment
from ._trajectory import PypetCompatError, SingleRun, Trajectory, cartesian_product

__all__ = [
    "Environment",
    "PypetCompatError",
    "SingleRun",
    "Trajectory",
    "cartesian_product",
    "pypetconstants",
]
