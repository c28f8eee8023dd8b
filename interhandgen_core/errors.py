"""Exceptions raised by interhandgen_core.

Every error a user can cause raises a subclass of :class:`InterHandGenError` whose
message names the offending file or value and says what to do about it, so that the
command line can print it as one line.
"""

from __future__ import annotations


class InterHandGenError(Exception):
    """Base class of every error this library raises on purpose."""


class AssetError(InterHandGenError):
    """A hand-model file (procedural asset or MANO pickle) is missing or malformed."""


class CheckpointError(InterHandGenError):
    """A prior checkpoint is missing, truncated or of another configuration."""


class ConfigError(InterHandGenError, ValueError):
    """A configuration value is out of range or of the wrong type."""


class DataError(InterHandGenError, ValueError):
    """A data file or array does not follow the documented schema."""


class BackendError(InterHandGenError):
    """A runtime backend cannot be built or run: its library is missing, an exported model or
    engine file is corrupt or foreign, or a batch lies outside what it was built for."""


class Cancelled(InterHandGenError):
    """A long computation (sampling, grasp proposals) was stopped because its caller's ``should_stop``
    hook said so (a cancelled ROS goal, a node shutting down); it returns nothing."""


class RobotHandError(InterHandGenError, ValueError):
    """A robot hand for retargeting (its MJCF/URDF model or the YAML of link correspondences) cannot be used."""


class RobotModelError(RobotHandError):
    """A robot hand's model or YAML file is missing or does not parse."""


class RobotLinkError(RobotHandError):
    """A robot hand's YAML names a link (body or site) or a joint that its model does not have."""


class RobotFingersError(RobotHandError):
    """A robot hand has too few fingers, or fingers that are not separate chains, for the keypoint mapping."""
