"""What every measurement gets: the settings of this run, the stack, the clients, the model."""

import time
from dataclasses import dataclass, field

from llm.model import LoadedModel

from .clients import ClientPool
from .stack import BenchStack
from .world import World


@dataclass(frozen=True)
class Config:
    smoke: bool
    ttft_reps: int = 10
    per_token_reps: int = 4
    one_thread_reps: int = 3
    long_reps: int = 2
    history_turns: int = 20  # a long thread: about 1,350 prompt tokens
    followup_tokens: int = 1500  # the thread a follow-up is asked in, read cold and warm
    fanout_clients: tuple[int, ...] = (1, 50, 200, 500)
    # 2,000 on two: what a second replica does for the audience one daphne could not keep up with
    fanout_replica_clients: tuple[int, ...] = (1, 50, 200, 500, 2000)
    fanout_frames: int = 50
    fanout_rate_hz: float = 25.0  # LLM_FRAME_INTERVAL_S = 0.04: the most frames a reply sends
    # The same audiences at LLM_FRAME_INTERVAL_S = 0.1: what a larger frame interval buys.
    slower_frames_rate_hz: float = 10.0
    slower_frames_clients: tuple[int, ...] = (500,)
    ramp_step: int = 250
    ramp_cap: int = 2000
    per_token_clients: tuple[int, ...] = (1, 50, 200, 500)
    per_token_frames: int = 100
    chat_members: int = 100
    chat_messages: int = 60
    chat_rate_hz: float = 5.0
    pollers: int = 50
    client_processes: int = 2
    long_thread_messages: int = 5000
    long_thread_opens: int = 20
    reconnect_new_events: int = 10
    document_editors: tuple[int, ...] = (2, 20)
    document_typing_s: float = 20.0
    document_typing_hz: float = 5.0  # characters a second per editor: a brisk typist
    document_log_updates: int = 10_000
    document_opens: int = 10
    document_typists: int = 5
    engine_askers: tuple[int, ...] = (1, 2, 4, 8)  # people asking at the same moment
    engine_tokens: int = 128  # each answer's tokens (the limit's too)
    navigation_threads: int = 200  # in the sidebar of the pages opened
    navigation_people: int = 50
    navigation_opens: int = 20
    outage_s: float = 10.0  # how long Redis, then PostgreSQL, stays away
    # The soak (``--only soak``): waves of people until ``soak_minutes`` have passed.
    soak_minutes: float = 10.0  # --soak-minutes
    soak_sockets: int = 200  # open at once in each wave: on threads, and editors of documents
    soak_threads: int = 10
    soak_documents: int = 10  # each edited by two people, one on each replica
    soak_wave_s: float = 45.0  # how long each wave stays
    soak_posts_per_s: float = 1.0  # messages posted by the wave, all threads together
    soak_mentions: int = 2  # answers asked for in each wave
    # After everyone left, before start and end: what closes lazily, and daphne's collection of
    # the closed sockets' memory (TIDY_AFTER_CLOSE_S, realtime/tidying.py) has run.
    soak_quiet_s: float = 35.0

    @classmethod
    def for_run(cls, *, smoke: bool) -> "Config":
        if not smoke:
            return cls(smoke=False)
        return cls(
            smoke=True,
            ttft_reps=2,
            per_token_reps=1,
            one_thread_reps=1,
            long_reps=1,
            history_turns=4,
            followup_tokens=300,
            fanout_clients=(1, 3),
            fanout_replica_clients=(2,),
            slower_frames_clients=(3,),
            fanout_frames=5,
            ramp_step=3,
            ramp_cap=6,
            per_token_clients=(2,),
            per_token_frames=5,
            chat_members=4,
            chat_messages=4,
            pollers=2,
            long_thread_messages=200,
            long_thread_opens=2,
            reconnect_new_events=3,
            document_editors=(2, 4),
            document_typing_s=2.0,
            document_log_updates=300,
            document_opens=2,
            document_typists=2,
            engine_tokens=16,
            navigation_threads=20,
            navigation_people=5,
            navigation_opens=2,
            outage_s=4.0,  # still seconds longer than a page takes to say "reconnecting"
            soak_minutes=0,  # the warm-up wave alone: CI runs it to check the soak works
            soak_sockets=24,
            soak_threads=2,
            soak_documents=2,
            soak_wave_s=8.0,
            soak_mentions=1,
            soak_quiet_s=3.0,
        )


@dataclass
class Bench:
    config: Config
    world: World
    stack: BenchStack
    pool: ClientPool
    model: LoadedModel
    started: float = field(default_factory=time.monotonic)

    def progress(self, text: str) -> None:
        print(f"[bench {time.monotonic() - self.started:6.1f}s] {text}", flush=True)
