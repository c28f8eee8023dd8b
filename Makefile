# Every target creates .venv on first use; running a target twice does no work twice.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

ROS_STAMP := $(VENV)/.ros-installed
WS := ros2_ws

.PHONY: demo test lint typecheck unit venv clean ros system-libs

# The one system library the Python wheels need: open3d's Linux wheel links libusb-1.0.
# Installed with apt-get where we may (root); otherwise stop at once with the command to run.
system-libs:
	@if ! ldconfig -p 2>/dev/null | grep -q 'libusb-1.0.so.0'; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing libusb-1.0-0 (open3d links it)"; \
			apt-get install -y -q libusb-1.0-0 >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q libusb-1.0-0 >/dev/null; }; \
		else \
			echo "missing system library libusb-1.0 (open3d links it); install it: sudo apt-get install libusb-1.0-0"; exit 1; \
		fi; \
	fi

$(STAMP): pyproject.toml | system-libs
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# CPU build first (it is on these machines' disk); the project's torch>=2.1 then installs nothing more.
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

# ROS 2 from the registry's ros-* wheels into .venv (machines without a ROS install), then
# the workspace built with colcon. With a system ROS 2, build ros2_ws with its colcon instead.
$(ROS_STAMP): $(STAMP) $(WS)/requirements-ros.txt
	$(BIN)/python -m pip install -q -r $(WS)/requirements-ros.txt
	# The wheels' exported CMake targets name two include folders of the machine they were
	# built on; CMake refuses to configure until they exist (empty is enough). Pip setup only.
	mkdir -p /opt/python/cp311-cp311/include/python3.11 /opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_core/include
	touch $(ROS_STAMP)

ros: $(ROS_STAMP)
	cd $(WS) && PATH="$(abspath $(BIN)):$$PATH" AMENT_PREFIX_PATH="$(abspath $(VENV))" CMAKE_PREFIX_PATH="$(abspath $(VENV))" \
		$(abspath $(BIN))/colcon build --base-paths src --event-handlers console_direct- console_start_end+
	@echo "built $(WS); run commands in it with $(WS)/env.sh COMMAND"

# As a ROS user sees it: grasp_proposal_node in its own process, the demo object's cloud
# published on object_points, the proposals received over DDS and drawn to out/demo/demo_grasps.png.
demo: ros
	$(WS)/env.sh interhandgen_ros_demo --out out/demo

# lint-imports: the layering of ARCHITECTURE.md (contracts in pyproject.toml); an import
# back up a layer, or an import cycle between sibling packages or modules, fails the build.
lint: $(STAMP)
	$(BIN)/ruff check interhandgen_core tests training launch $(WS)/src
	$(BIN)/ruff format --check interhandgen_core tests training launch $(WS)/src
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy interhandgen_core $(WS)/src/interhandgen_ros/interhandgen_ros

# In the built workspace's environment: tests/ros starts the nodes and talks to them over DDS.
unit: ros
	$(WS)/env.sh $(abspath $(BIN))/python -m pytest -q tests

test: lint typecheck unit

clean:
	rm -rf out .pytest_cache .mypy_cache .ruff_cache $(WS)/build $(WS)/install $(WS)/log
