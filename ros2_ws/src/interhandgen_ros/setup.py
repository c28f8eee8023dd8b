"""ament_python package of the InterHandGen nodes; executables go to lib/interhandgen_ros (ros2 run's place)."""

import os
from glob import glob

from setuptools import setup

PACKAGE = "interhandgen_ros"
# The launch files live once, in the repository's top-level launch/ (two levels above ros2_ws/src);
# data_files takes paths relative to this file's folder, where colcon runs setup.py.
HERE = os.path.dirname(os.path.abspath(__file__))
LAUNCH = os.path.relpath(os.path.join(HERE, "..", "..", "..", "launch"), HERE)

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=[PACKAGE],
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", sorted(glob(os.path.join(LAUNCH, "*.launch.*")))),
        (f"share/{PACKAGE}/data", glob("data/*.ply")),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="InterHandGen developers",
    description="ROS 2 nodes of InterHandGen: bimanual grasp proposals and two-hand refinement.",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            f"grasp_proposal_node = {PACKAGE}.executables:grasp_proposal_node",
            f"hand_prior_node = {PACKAGE}.executables:hand_prior_node",
            f"interhandgen_ros_bench = {PACKAGE}.benchmark:main",
            f"interhandgen_ros_replay = {PACKAGE}.recording:main",
            f"interhandgen_ros_demo = {PACKAGE}.demo:main",
        ],
    },
)
