"""Once the hub is ready, full collections no longer walk what start-up built."""

import subprocess
import sys
import textwrap


def run_python(code: str) -> str:
    """In a process of its own: freezing is for the life of the process."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout.strip()


def test_start_up_s_objects_are_frozen_and_later_garbage_is_still_collected() -> None:
    out = run_python(
        """
        import gc, weakref
        from hub.service.collector import settle_after_start

        class Node:
            pass

        kept = [Node() for _ in range(1000)]
        settle_after_start()
        frozen = gc.get_freeze_count()
        later = Node()
        later.me = later  # a cycle made after start: only the collector can free it
        gone = weakref.ref(later)
        del later
        gc.collect()
        print(frozen >= len(kept), gone() is None)
        """
    )
    assert out == "True True"
