"""ROS 2 nodes of InterHandGen: grasp proposals for an object cloud, refinement of noisy hand states.

Data flow: message -> pure conversion (conversions.py, markers.py, diagnostics.py; no rclpy)
-> interhandgen_core -> message. The nodes (grasp_proposal_node.py, hand_prior_node.py) only
wire topics, parameters (parameters.py) and the lifecycle (node_base.py); their processes start
in executables.py (signal handling first, --help, then the node) and end on SIGINT or SIGTERM
with exit code 0 (process_signals.py).
"""
