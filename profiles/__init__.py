"""skyproof profiles: YAML verification profiles, their schema and the requirement registry.

    from profiles import load_profile, ProfileError
    profile = load_profile("profiles/sim.yaml")   # raises ProfileError with a readable message
"""

from .loader import Profile, ProfileError, Waiver, load_profile
from .registry import Registry, Requirement, RequirementSet, load_registry

__all__ = [
    "Profile",
    "ProfileError",
    "Registry",
    "Requirement",
    "RequirementSet",
    "Waiver",
    "load_profile",
    "load_registry",
]
