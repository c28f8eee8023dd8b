"""What both InterHandGen nodes share: parameters from their table, the lifecycle, the newest-input
slot and its worker thread, diagnostics, and the process entry point.

Lifecycle (ros2/demos lifecycle_py's pattern):
    on_configure   parameters read, model loaded and warmed up, publishers and the diagnostics
                   timer created; nothing is subscribed yet
    on_activate    input subscription created, worker started; publishers enabled
    on_deactivate  input subscription destroyed, worker stopped
    on_cleanup     model, publishers and timer freed
With ``autostart`` (default true) the node configures and activates itself on start.

Start-up refusals are one line each, naming the parameter (no traceback): a parameter of the wrong
type or out of range (``-p num_grasps:=many``, a launch argument, a parameter file) ends the
process with exit code 1 before anything loads; a configure that fails (a missing model file,
a device this machine lacks) returns FAILURE and, with autostart, ends the process with exit
code 1 too (without autostart the node stays up, unconfigured, for a lifecycle manager to
configure again). SIGINT and SIGTERM end the process with exit code 0 at any moment
(process_signals.py; run): long work (a cloud being processed, an action goal) is given the cancel
hook ``stopping``, which ends the sampling between two denoising steps, so that the stop frees
the model within STOP_WAIT_S rather than exiting with the work still running.

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
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import rclpy
import torch
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult
from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException
from rclpy.executors import Executor, ExternalShutdownException, MultiThreadedExecutor, SingleThreadedExecutor
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, qos_profile_sensor_data, qos_profile_system_default
from rclpy.signals import SignalHandlerOptions
from std_msgs.msg import Header

from interhandgen_core.errors import BackendError, Cancelled, CheckpointError, InterHandGenError
from interhandgen_core.pipelines.prior_pipeline import PriorPipeline
from interhandgen_core.runtime.configuration import BackendConfig
from interhandgen_ros.conversions import InputError
from interhandgen_ros.diagnostics import NodeStatistics
from interhandgen_ros.parameters import ParameterSpec, device_problem, spec_table
from interhandgen_ros.process_signals import StopRequested, StopSignals

WARNING_PERIOD_S = 2.0
# How often the spinning main thread looks for a stop signal (process_signals: deferred).
SIGNAL_POLL_S = 0.1
# On a stop, how long the worker and the executor's callbacks may take to finish what they are
# doing before the process exits without them (ros2 launch sends SIGTERM 5 s after its SIGINT).
STOP_WAIT_S = 2.0


class StartRefused(Exception):
    """The node refused its start-up parameters; the reason is logged already (one line)."""


class ConfigureError(InterHandGenError):
    """on_configure cannot load what the parameters ask for; the message names the parameter."""


# What the nodes load: GraspPipeline or TwoHandPipeline (interhandgen_core.pipelines).
PipelineT = TypeVar("PipelineT", bound=PriorPipeline)


def input_qos(name: str, depth: int) -> QoSProfile:
    """The input_qos parameter -> a QoS profile with the given depth."""
    base = {"SENSOR_DATA": qos_profile_sensor_data, "SYSTEM_DEFAULT": qos_profile_system_default}.get(name)
    if base is None:
        return QoSProfile(depth=depth)
    profile = QoSProfile(depth=depth, reliability=base.reliability, durability=base.durability, history=base.history)
    return profile


def backend_config(node: InterHandGenNode) -> BackendConfig:
    """The node's backend parameters -> BackendConfig (runtime/configuration.py)."""
    max_batch = node.param("max_batch_size")
    return BackendConfig(
        name=node.param("backend"),
        precision=node.param("precision"),
        engine_path=node.param("engine_file_path") or None,
        force_rebuild=node.param("force_engine_update"),
        max_batch=max_batch,
        opt_batch=min(BackendConfig().opt_batch, max_batch),
    )


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
    """Base of the two nodes; subclasses say what to load, what to subscribe and how to process.

    PARAMETERS: the node's parameter table (parameters.py); EXECUTOR_THREADS: 1 unless a callback
    runs long (an action's execute): rclpy's multi-threaded executor costs the worker a third of
    its speed on a 2-core machine (hand_prior_node at a 30 Hz input: 96 ms per frame
    single-threaded, 130-144 ms with 3 threads).
    """

    PARAMETERS: ClassVar[tuple[ParameterSpec, ...]] = ()
    EXECUTOR_THREADS: ClassVar[int] = 1

    def __init__(self, name: str, specs: tuple[ParameterSpec, ...], **kwargs: Any) -> None:
        super().__init__(name, **kwargs)
        self.specs = spec_table(specs)
        # Values given at start-up (launch files, parameter files, --ros-args -p) are checked like
        # run-time changes; a refusal ends the start with one line naming the parameter.
        reason = self._declare(specs)
        if reason is not None:
            self.get_logger().error(f"parameter {reason}; not starting")
            self.destroy_node()
            raise StartRefused(reason)
        self.add_on_set_parameters_callback(self._check_parameters)
        self.stats = NodeStatistics()
        self.stop_signals: StopSignals | None = None  # the process's, when run by node_base.run
        self.loaded = False
        self.backend_name = "-"
        self.device_name = "-"
        self._slot: Any = None
        self._slot_lock = threading.Condition()
        self._computing = 0  # callbacks using the model now (the worker, an action's execute)
        self._computing_lock = threading.Condition()
        self._worker: threading.Thread | None = None
        self._running = False
        self._subscription: Any = None
        self._diagnostics: Any = None
        self._diagnostics_timer: Any = None

    # -------------------------------------------------------------- parameters

    def _declare(self, specs: tuple[ParameterSpec, ...]) -> str | None:
        """Declare every parameter; the first refusal of a value given at start-up (None: none)."""
        for spec in specs:
            try:
                self.declare_parameter(spec.name, spec.default, _descriptor(spec))
            except (InvalidParameterTypeException, InvalidParameterValueException) as error:
                # rclpy refuses a value of another type than the default's, or out of the
                # descriptor's range; the value given is in its overrides (rclpy has no public getter).
                given = getattr(self, "_parameter_overrides", {}).get(spec.name)
                if given is None:
                    return f"{spec.name}: {error}"
                return spec.check(given.value) or spec.type_refusal(given.value)
        for spec in specs:
            reason = spec.check(self.get_parameter(spec.name).value)
            if reason is not None:
                return reason
        return None

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
        """Load and warm up the model (load_pipeline), create publishers (lifecycle publishers)."""

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

    def load_pipeline(self, pipeline: type[PipelineT]) -> PipelineT:
        """The prior the parameters name (model_file_path, device, backend...) as ``pipeline``;
        ConfigureError naming the parameter to change when it cannot be loaded."""
        device, backend = self.param("device"), self.param("backend")
        problem = device_problem(device, backend, torch.cuda.device_count())
        if problem is not None:
            raise ConfigureError(problem)
        path = self.param("model_file_path") or None  # None: the shipped prior of the node's kind
        try:
            return pipeline.from_pretrained(path, device=device, backend=backend_config(self))
        except CheckpointError as error:
            raise ConfigureError(
                f"model_file_path: {_first_line(error)} (a prior checkpoint, .safetensors; empty: the shipped prior)"
            ) from None
        except BackendError as error:
            raise ConfigureError(f"backend {backend!r}: {_first_line(error)}") from None
        except InterHandGenError as error:  # e.g. a checkpoint of the other kind; its message names the file
            named = path is not None and Path(path).stem in str(error)
            raise ConfigureError(f"{'model_file_path: ' if named else ''}{_first_line(error)}") from None

    # -------------------------------------------------------------- lifecycle

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        # A StopRequested (SIGINT/SIGTERM while loading) is a BaseException: it passes through.
        try:
            start = time.perf_counter()
            self.get_logger().info(f"configuring: loading the model on {self.param('device')} ...")
            self.load()
            self.loaded = True
            self._diagnostics = self.create_lifecycle_publisher(DiagnosticArray, "diagnostics", 10)
            self._diagnostics_timer = self.create_timer(self.param("diagnostics_period_s"), self._publish_diagnostics)
            self.get_logger().info(
                f"configured: {self.backend_name} backend on {self.device_name}, model loaded and warmed up in "
                f"{time.perf_counter() - start:.1f} s"
            )
        except Exception as error:  # a missing checkpoint, a backend that cannot be built: report, stay unconfigured
            self._release()
            if self.stop_signals is not None and self.stop_signals.received is not None:
                # The stop signal interrupted an extension module's import (open3d's, torch's),
                # which turns any exception into an ImportError: the stop is the cause, not a fault.
                raise StopRequested(self.stop_signals.received) from None
            self.get_logger().error(f"configure failed: {_first_line(error)}")
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

    def _stop_input(self, timeout: float = 30.0) -> bool:
        """Unsubscribe and stop the worker; False if it is still busy with an input after ``timeout`` s."""
        if self._subscription is not None:
            self.destroy_subscription(self._subscription)
            self._subscription = None
        self._running = False
        with self._slot_lock:
            self._slot = None
            self._slot_lock.notify_all()
        if self._worker is not None:
            self._worker.join(timeout=timeout)
            if self._worker.is_alive():
                return False
            self._worker = None
        return True

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

    # -------------------------------------------------------------- work in progress

    @contextmanager
    def computing(self) -> Iterator[None]:
        """Marks a callback's use of the model: a stop does not free the model under it (wait_idle)."""
        with self._computing_lock:
            self._computing += 1
        try:
            yield
        finally:
            with self._computing_lock:
                self._computing -= 1
                self._computing_lock.notify_all()

    def stopping(self) -> bool:
        """True once the input is stopped (deactivate, a stop signal): the cancel hook of long work."""
        return not self._running

    def wait_idle(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s for every ``computing`` callback to end; False if one still runs."""
        with self._computing_lock:
            return self._computing_lock.wait_for(lambda: self._computing == 0, timeout=timeout)

    # -------------------------------------------------------------- input slot and worker

    def offer(self, msg: Any) -> None:
        """Subscription callback: keep only the newest message."""
        self.stats.received += 1
        with self._slot_lock:
            if self._slot is not None:
                self.stats.drop("superseded by a newer message before it was processed")
            self._slot = msg
            self._slot_lock.notify()

    def newer_waiting(self) -> bool:
        """True while a message newer than the one being processed waits in the input slot: long work can end
        early rather than have it superseded (hand_prior_node's hurry_when_behind)."""
        return self._slot is not None  # one reference read: no lock needed

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
                # One diagnostics entry for every wrong frame id, the last one kept (diagnostics.py).
                self.stats.drop_wrong_frame(frame)
                self.get_logger().warning(
                    f"dropped an input: frame {frame[:64]!r}, expected {expected!r} (expected_frame_id)",
                    throttle_duration_sec=WARNING_PERIOD_S,
                )
                return
            with self.computing():
                self.process(msg)
        except Cancelled:  # the cancel hook (stopping) ended the work: the node is being deactivated or stopped
            self.stats.drop("stopped: the node stopped while processing it")
            self.get_logger().info("stopped processing an input: the node is stopping")
            return
        except (InputError, InterHandGenError, ValueError) as error:
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            self.stats.drop(reason)
            self.get_logger().warning(f"dropped an input: {reason}", throttle_duration_sec=WARNING_PERIOD_S)
            return
        except Exception as error:  # never die on a message
            self.stats.drop(f"internal error {type(error).__name__}")
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


def _first_line(error: BaseException) -> str:
    text = str(error)
    return text.splitlines()[0] if text else type(error).__name__


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


def run(node_class: type[InterHandGenNode], args: list[str], signals: StopSignals) -> int:
    """Process entry point (executables.start, which then ends the process with exit_now): start the
    node, autostart it, spin until SIGINT or SIGTERM, clean up; the exit code.

    args: the program name and the ROS arguments (rclpy.init's). signals: installed already
    (raising until the node spins). 0 after a stop signal, whenever it came; 1 when the node refused
    its parameters or, with autostart, could not configure (the reason is logged, one line).
    """
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    node: InterHandGenNode | None = None
    executor: Executor | None = None
    code = 0
    try:
        node = node_class()  # type: ignore[call-arg]
        executor = (
            SingleThreadedExecutor()
            if node_class.EXECUTOR_THREADS == 1
            else MultiThreadedExecutor(num_threads=node_class.EXECUTOR_THREADS)
        )
        node.stop_signals = signals
        _route_library_logs(node)
        executor.add_node(node)
        if node.param("autostart"):
            node.trigger_configure()
            if not node.loaded:
                code = 1  # on_configure logged why
                return code
            node.trigger_activate()
        else:
            node.get_logger().info("unconfigured, waiting for a lifecycle manager to configure it (autostart is false)")
        with signals.deferred():
            while signals.received is None:
                executor.spin_once(timeout_sec=SIGNAL_POLL_S)
    except StopRequested:
        pass
    except ExternalShutdownException:  # the context was shut down by someone else
        pass
    except StartRefused:
        code = 1
    finally:
        signals.stop_raising()  # a signal now (a second Ctrl-C) changes nothing: the stop goes on
        if not _close(node, executor) and node is not None:
            # The worker or an action is still computing (seconds): the process exits without it
            # (executables.exit_now), nothing freed under it.
            node.get_logger().info("stopped while an input was being processed; not waiting for it")
    return code


def _route_library_logs(node: InterHandGenNode) -> None:
    # The library throttles its own warnings; here they only change their way out.
    library_logger = logging.getLogger("interhandgen_core")
    library_logger.addHandler(RosLogHandler(node.get_logger()))
    library_logger.setLevel(logging.INFO)
    library_logger.propagate = False


def _close(node: InterHandGenNode | None, executor: Executor | None) -> bool:
    """Stop input, free the model, destroy the node and shut ROS down; False if a callback or the
    worker is still running after STOP_WAIT_S (then nothing is freed under it)."""
    idle = True
    if node is not None:
        deadline = time.monotonic() + STOP_WAIT_S
        idle = node._stop_input(timeout=STOP_WAIT_S)
        idle = node.wait_idle(max(0.0, deadline - time.monotonic())) and idle
    if executor is not None:
        # (rclpy's shutdown does not wait for running callbacks, whatever its timeout: wait_idle does.)
        if isinstance(executor, MultiThreadedExecutor):
            executor.shutdown(timeout_sec=0.0, wait_for_threads=False)
        else:
            executor.shutdown(timeout_sec=0.0)
    if not idle:
        return False
    if node is not None:
        try:
            node._release()
            node.destroy_node()
        except Exception as error:  # a transition cut short by the signal; the process ends anyway
            node.get_logger().debug(f"cleanup after the stop: {_first_line(error)}")
    if rclpy.ok():
        rclpy.shutdown()
    return True
