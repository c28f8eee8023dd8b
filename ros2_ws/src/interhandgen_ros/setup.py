"""ament_python package of the InterHandGen nodes; executables go to lib/interhandgen_ros (ros2 run's place)."""

from glob import glob

from setuptools import setup

PACKAGE = "interhandgen_ros"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=[PACKAGE],
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.xml")),
        (f"share/{PACKAGE}/data", glob("data/*.ply")),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="InterHandGen developers",
    description="ROS 2 nodes of InterHandGen: bimanual grasp proposals and two-hand refinement.",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            f"grasp_proposal_node = {PACKAGE}.grasp_proposal_node:main",
            f"hand_prior_node = {PACKAGE}.hand_prior_node:main",
            f"interhandgen_ros_bench = {PACKAGE}.benchmark:main",
            f"interhandgen_ros_replay = {PACKAGE}.recording:main",
            f"interhandgen_ros_demo = {PACKAGE}.demo:main",
        ],
    },
)
