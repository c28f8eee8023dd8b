"""The lifecycle both nodes share (node_base.py), driven over DDS by lifecycle_msgs services as a
lifecycle manager would: nothing is subscribed before activate, cleanup frees, a failed
configure (without autostart) leaves the node alive and unconfigured."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from interhandgen_msgs.msg import TwoHandState
from lifecycle_msgs.msg import State, Transition
from lifecycle_msgs.srv import ChangeState, GetState

from interhandgen_core.pipelines.shipped_priors import default_checkpoint

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import spin_until
from test_hand_prior_node import FAST, sequence, state


def lifecycle(ros, node_name: str):  # type: ignore[no-untyped-def]
    change = ros.create_client(ChangeState, f"{node_name}/change_state")
    get = ros.create_client(GetState, f"{node_name}/get_state")

    def current() -> int:
        # Asked again while unanswered: a request sent before discovery has matched the node's
        # service (a client may still see the previous test's node, gone now) is lost.
        for _ in range(10):
            future = get.call_async(GetState.Request())
            if spin_until(ros, future.done, 3):
                return int(future.result().current_state.id)
            get.remove_pending_request(future)
        raise AssertionError("get_state unanswered for 30 s")

    def transition(transition_id: int) -> bool:
        future = change.call_async(ChangeState.Request(transition=Transition(id=transition_id)))
        assert spin_until(ros, future.done, 120)
        return bool(future.result().success)

    assert change.wait_for_service(timeout_sec=60) and get.wait_for_service(timeout_sec=10)
    current()  # answered: the node's services are matched
    return current, transition


def test_transitions_load_subscribe_and_free(ros, start_node) -> None:  # type: ignore[no-untyped-def]
    node = start_node("hand_prior_node", {**FAST, "autostart": False})
    current, transition = lifecycle(ros, "hand_prior_node")
    publisher = ros.create_publisher(TwoHandState, "hands/noisy", 10)
    refined: list[TwoHandState] = []
    ros.create_subscription(TwoHandState, "hands/refined", refined.append, 10)
    assert current() == State.PRIMARY_STATE_UNCONFIGURED
    assert transition(Transition.TRANSITION_CONFIGURE) and current() == State.PRIMARY_STATE_INACTIVE
    assert "model loaded and warmed up" in node.output()
    spin_until(ros, lambda: False, 1.0)
    assert publisher.get_subscription_count() == 0  # loaded, not yet listening
    assert transition(Transition.TRANSITION_ACTIVATE) and current() == State.PRIMARY_STATE_ACTIVE
    assert spin_until(ros, lambda: publisher.get_subscription_count() == 1, 10)
    seq = sequence()
    publisher.publish(state(seq.left_keypoints[0].numpy(), seq.right_keypoints[0].numpy(), 0))
    assert spin_until(ros, lambda: bool(refined), 30), node.output()
    assert transition(Transition.TRANSITION_DEACTIVATE)
    assert spin_until(ros, lambda: publisher.get_subscription_count() == 0, 10)
    assert transition(Transition.TRANSITION_CLEANUP) and current() == State.PRIMARY_STATE_UNCONFIGURED
    # Configured again after cleanup: the model is loaded anew and the stream flows again.
    assert transition(Transition.TRANSITION_CONFIGURE) and transition(Transition.TRANSITION_ACTIVATE)
    count = len(refined)
    assert spin_until(ros, lambda: publisher.get_subscription_count() == 1, 10)
    publisher.publish(state(seq.left_keypoints[1].numpy(), seq.right_keypoints[1].numpy(), 1))
    assert spin_until(ros, lambda: len(refined) > count, 30), node.output()
    assert node.output().count("model loaded and warmed up") == 2
    assert node.stop() == 0


def test_failed_configure_leaves_the_node_alive_and_unconfigured(ros, start_node, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # Without autostart a lifecycle manager drives the node: a failed configure returns FAILURE
    # and the node stays up. (With autostart the process exits 1: test_node_startup.py.)
    missing = tmp_path / "missing.safetensors"
    node = start_node("hand_prior_node", {**FAST, "autostart": False, "model_file_path": str(missing)})
    current, transition = lifecycle(ros, "hand_prior_node")
    assert current() == State.PRIMARY_STATE_UNCONFIGURED and "waiting for a lifecycle manager" in node.output()
    assert not transition(Transition.TRANSITION_CONFIGURE)
    assert "configure failed: model_file_path" in node.output() and str(missing) in node.output()
    assert current() == State.PRIMARY_STATE_UNCONFIGURED and node.process.poll() is None
    assert not transition(Transition.TRANSITION_CONFIGURE)  # still missing: refused again, still alive
    assert node.process.poll() is None
    # The operator puts the model in place: configure now succeeds, in the same process.
    shipped = default_checkpoint()
    shutil.copy(shipped, missing)
    shutil.copy(shipped.with_suffix(".json"), missing.with_suffix(".json"))
    assert transition(Transition.TRANSITION_CONFIGURE) and current() == State.PRIMARY_STATE_INACTIVE
    assert node.stop() == 0
