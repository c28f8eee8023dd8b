"""PNG previews of hands, grasps and objects, for people to look at.

Layer (ARCHITECTURE.md): above contact, beside io (independent of it).
"""
