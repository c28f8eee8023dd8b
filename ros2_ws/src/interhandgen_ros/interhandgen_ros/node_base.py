"""What both InterHandGen nodes share: parameters from their table, the lifecycle, the newest-input
slot and its worker thread, diagnostics, and the process entry point.

Lifecycle (ros2/demos lifecycle_py's pattern):
    on_configure   parameters read, model loaded and warmed up, publishers and the diagnostics
                   timer created; nothing is subscribed yet
    on_activate    input subscription created, worker started; publishers enabled
    on_deactivate  input subscription destroyed, worker stopped
    on_cleanup     model, publishers and timer freed
With ``autostart`` (default true) the node configures and activates itself on start.

Inputs never queue: the subscription callback only puts the message in a one-message slot
(a message still waiting there when a newer one arrives is dropped and counted, "superseded");
the worker thread takes the newest and processes it. A bad message is logged (throttled),
counted and dropped; an exception while processing is logged and counted, never fatal.
"""

from __future__ import annotations

import logging
import threading
import time
from abc import abstractmethod
from collections.abc import Callable
from typing import Any

import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult
from rclpy.executors import Executor, ExternalShutdownException, MultiThreadedExecutor, SingleThreadedExecutor
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, qos_profile_sensor_data, qos_profile_system_default
from std_msgs.msg import Header

from interhandgen_core.errors import InterHandGenError
from interhandgen_ros.conversions import InputError
from interhandgen_ros.diagnostics import NodeStatistics
from interhandgen_ros.parameters import ParameterSpec, spec_table

WARNING_PERIOD_S = 2.0


def input_qos(name: str, depth: int) -> QoSProfile:
    """The input_qos parameter -> a QoS profile with the given depth."""
    base = {"SENSOR_DATA": qos_profile_sensor_data, "SYSTEM_DEFAULT": qos_profile_system_default}.get(name)
    if base is None:
        return QoSProfile(depth=depth)
    profile = QoSProfile(depth=depth, reliability=base.reliability, durability=base.durability, history=base.history)
    return profile


def _descriptor(spec: ParameterSpec) -> ParameterDescriptor:
    descriptor = ParameterDescriptor(description=spec.description, read_only=spec.read_only)
    # A former name's default is NaN ("not set"), which no range admits: spec.check alone guards it.
    if (
        isinstance(spec.default, float)
        and spec.renamed_to is None
        and spec.minimum is not None
        and spec.maximum is not None
    ):
        descriptor.floating_point_range = [
            FloatingPointRange(from_value=float(spec.minimum), to_value=float(spec.maximum))
        ]
    elif isinstance(spec.default, int) and not isinstance(spec.default, bool) and spec.minimum is not None:
        if spec.maximum is not None:
            descriptor.integer_range = [IntegerRange(from_value=int(spec.minimum), to_value=int(spec.maximum), step=1)]
    return descriptor


class InterHandGenNode(LifecycleNode):
    """Base of the two nodes; subclasses say what to load, what to subscribe and how to process."""

    def __init__(self, name: str, specs: tuple[ParameterSpec, ...], **kwargs: Any) -> None:
        super().__init__(name, **kwargs)
        self.specs = spec_table(specs)
        for spec in specs:
            self.declare_parameter(spec.name, spec.default, _descriptor(spec))
        # Values given at start-up (launch files, --ros-args -p) are checked like run-time changes.
        for spec in specs:
            reason = spec.check(self.get_parameter(spec.name).value)
            if reason is not None:
                raise InterHandGenError(f"parameter {reason}")
        self.add_on_set_parameters_callback(self._check_parameters)
        self.stats = NodeStatistics()
        self.loaded = False
        self.backend_name = "-"
        self.device_name = "-"
        self._slot: Any = None
        self._slot_lock = threading.Condition()
        self._worker: threading.Thread | None = None
        self._running = False
        self._subscription: Any = None
        self._diagnostics: Any = None
        self._diagnostics_timer: Any = None

    # -------------------------------------------------------------- parameters

    def param(self, name: str) -> Any:
        return self.get_parameter(name).value

    def _check_parameters(self, parameters: list[Parameter]) -> SetParametersResult:
        for parameter in parameters:
            spec = self.specs.get(parameter.name)
            if spec is None:
                continue
            reason = spec.check(parameter.value)
            if reason is not None:
                self.get_logger().warning(f"refused: {reason}; keeping {self.param(parameter.name)!r}")
                return SetParametersResult(successful=False, reason=reason)
        return SetParametersResult(successful=True)

    # -------------------------------------------------------------- subclass hooks

    @abstractmethod
    def load(self) -> None:
        """Load and warm up the model, create publishers (lifecycle publishers)."""

    @abstractmethod
    def free(self) -> None:
        """Free what load made."""

    @abstractmethod
    def subscribe(self, qos: QoSProfile) -> Any:
        """Create and return the input subscription, whose callback is self.offer."""

    @abstractmethod
    def process(self, msg: Any) -> None:
        """Turn one input into outputs; raise InputError for an input it cannot use."""

    @abstractmethod
    def frame_of(self, msg: Any) -> str:
        """The frame id of an input message."""

    # -------------------------------------------------------------- lifecycle

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            start = time.perf_counter()
            self.load()
            self.loaded = True
            self._diagnostics = self.create_lifecycle_publisher(DiagnosticArray, "diagnostics", 10)
            self._diagnostics_timer = self.create_timer(self.param("diagnostics_period_s"), self._publish_diagnostics)
            self.get_logger().info(
                f"configured: {self.backend_name} backend on {self.device_name}, model loaded and warmed up in "
                f"{time.perf_counter() - start:.1f} s"
            )
        except Exception as error:  # a missing checkpoint, a backend that cannot be built: report, stay unconfigured
            self.get_logger().error(f"configure failed: {error}")
            self._release()
            return TransitionCallbackReturn.FAILURE
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._running = True
        self._worker = threading.Thread(target=self._work, name=f"{self.get_name()}_worker", daemon=True)
        self._worker.start()
        self._subscription = self.subscribe(input_qos(self.param("input_qos"), self.param("input_qos_depth")))
        self.get_logger().info("active")
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop_input()
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._release()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop_input()
        self._release()
        return TransitionCallbackReturn.SUCCESS

    def _stop_input(self) -> None:
        if self._subscription is not None:
            self.destroy_subscription(self._subscription)
            self._subscription = None
        self._running = False
        with self._slot_lock:
            self._slot = None
            self._slot_lock.notify_all()
        if self._worker is not None:
            self._worker.join(timeout=30.0)
            self._worker = None

    def _release(self) -> None:
        if self._diagnostics_timer is not None:
            self.destroy_timer(self._diagnostics_timer)
            self._diagnostics_timer = None
        if self._diagnostics is not None:
            self.destroy_lifecycle_publisher(self._diagnostics)
            self._diagnostics = None
        if self.loaded:
            self.free()
        self.loaded = False

    # -------------------------------------------------------------- input slot and worker

    def offer(self, msg: Any) -> None:
        """Subscription callback: keep only the newest message."""
        self.stats.received += 1
        with self._slot_lock:
            if self._slot is not None:
                self.stats.drop("superseded by a newer message before it was processed")
            self._slot = msg
            self._slot_lock.notify()

    def _work(self) -> None:
        while True:
            with self._slot_lock:
                while self._slot is None and self._running:
                    self._slot_lock.wait(timeout=0.5)
                if not self._running:
                    return
                msg, self._slot = self._slot, None
            self._handle(msg)

    def _handle(self, msg: Any) -> None:
        start = time.perf_counter()
        try:
            expected = self.param("expected_frame_id")
            frame = self.frame_of(msg)
            if expected and frame != expected:
                raise InputError(f"frame {frame!r}, expected {expected!r} (expected_frame_id)")
            self.process(msg)
        except (InputError, InterHandGenError, ValueError) as error:
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            self.stats.drop(_reason_kind(reason))
            self.get_logger().warning(f"dropped an input: {reason}", throttle_duration_sec=WARNING_PERIOD_S)
            return
        except Exception as error:  # never die on a message
            self.stats.drop(f"internal error: {type(error).__name__}")
            self.get_logger().error(
                f"failed on an input ({type(error).__name__}: {error})", throttle_duration_sec=WARNING_PERIOD_S
            )
            return
        self.stats.processed += 1
        self.stats.latencies_ms.append(1000.0 * (time.perf_counter() - start))

    def _publish_diagnostics(self) -> None:
        if self._diagnostics is None:
            return
        header = Header(stamp=self.get_clock().now().to_msg())
        self._diagnostics.publish(
            self.stats.to_message(header, self.get_name(), self.backend_name, self.device_name, self.loaded)
        )


def _reason_kind(reason: str) -> str:
    # Counts per kind of problem, not per message text (which holds numbers).
    return reason.split(":")[0].split("(")[0].strip()[:60]


class RosLogHandler(logging.Handler):
    """Python logging records (the library's warnings: lost hands, unit guesses, backend fallbacks)
    -> a ROS logger, so that they reach /rosout and the console once, formatted as ROS logs."""

    def __init__(self, ros_logger: Any) -> None:
        super().__init__(level=logging.INFO)
        self.ros_logger = ros_logger

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if record.levelno >= logging.ERROR:
            self.ros_logger.error(message)
        elif record.levelno >= logging.WARNING:
            self.ros_logger.warning(message)
        else:
            self.ros_logger.info(message)


def run(node_class: Callable[[], InterHandGenNode], args: list[str] | None = None, executor_threads: int = 1) -> int:
    """Process entry point: start the node, autostart it, spin until SIGINT/SIGTERM, clean up, exit 0.

    executor_threads: 1 unless a callback runs long (an action's execute): rclpy's
    multi-threaded executor costs the worker a third of its speed on a 2-core machine
    (hand_prior_node at a 30 Hz input: 96 ms per frame single-threaded, 130-144 ms with 3 threads).
    """
    rclpy.init(args=args)
    node: InterHandGenNode | None = None
    executor: Executor = (
        SingleThreadedExecutor() if executor_threads == 1 else MultiThreadedExecutor(num_threads=executor_threads)
    )
    library_logger = logging.getLogger("interhandgen_core")
    try:
        node = node_class()
        # The library throttles its own warnings; here they only change their way out.
        handler = RosLogHandler(node.get_logger())
        library_logger.addHandler(handler)
        library_logger.setLevel(logging.INFO)
        library_logger.propagate = False
        executor.add_node(node)
        if node.param("autostart"):
            node.trigger_configure()
            if node.loaded:
                node.trigger_activate()
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except InterHandGenError as error:
        print(f"error: {error}", flush=True)
        return 1
    finally:
        if node is not None:
            node._stop_input()
            node._release()
            executor.remove_node(node)
            node.destroy_node()
        executor.shutdown()
        if rclpy.ok():
            rclpy.shutdown()
    return 0
