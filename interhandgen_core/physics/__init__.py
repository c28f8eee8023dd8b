"""Physics validation of bimanual grasps on MuJoCo: does a grasp hold its object?

Both hands are kinematic (mocap) bodies made of convex parts, one per bone segment
(hand_bodies.py); the object is a free rigid body made of convex parts (object_body.py); the
hands are pressed a few millimetres onto it (pressing.py); the MuJoCo model of one grasp is
built in scene.py; grasp_validation.py runs the protocol (settle, then the object's weight along
+-x, +-y, +-z) for a batch of grasps and returns what held. Parameters: configuration.py.

Layer (ARCHITECTURE.md): above contact; imports hands, geometry and the foundation modules,
never pipelines, data, evaluation or cli (they call it).
"""
