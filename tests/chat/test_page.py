"""The chat page in a real browser against a real `python -m chat` worker: what two people see.

The first test needs no browser: it holds the page to its rules (same-origin files only, no HTML built
from strings). The others drive headless Chromium (`@pytest.mark.browser`: skipped on a developer's
machine without /usr/bin/chromium, failed under CI=true).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx
import pytest
from conftest import free_port, missing, wait_for_port
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Dialog,
    Locator,
    Page,
    Playwright,
    expect,
    sync_playwright,
)

REPO = Path(__file__).resolve().parents[2]
STATIC = REPO / "chat" / "static"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
HOSTILE = "<img src=x onerror=alert(1)> <script>alert(2)</script>"


@dataclass
class ChatProcess:
    """One chat worker (`python -m chat`, embedded Redis) on a free loopback port; stopped by its PID."""

    port: int = field(default_factory=free_port)
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    stderr: IO[bytes] = field(default_factory=tempfile.TemporaryFile)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        # embedded fakeredis, one worker of its own, unless the test gives a REDIS_URL
        env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "REDIS_ENDPOINT")}
        env.update({"PORT": str(self.port), "HOST": "127.0.0.1", **self.env})
        self.process = subprocess.Popen(
            [sys.executable, "-m", "chat"], cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=self.stderr
        )
        try:
            wait_for_port("127.0.0.1", self.port)
            self._wait_healthy()
        except BaseException as exc:
            self.kill()
            raise RuntimeError(f"python -m chat did not start:\n{self.output()}") from exc

    def output(self) -> str:
        """What the worker wrote to stderr so far (its log), for failure messages."""
        self.stderr.seek(0)
        return self.stderr.read().decode(errors="replace")[-4000:]

    def _wait_healthy(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"python -m chat exited with {self.process.returncode}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise TimeoutError(f"{self.url}/healthz never answered 200")

    def pause(self) -> None:
        """Freeze the worker (SIGSTOP): its sockets stay open but it sends nothing, not even pings."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGCONT)

    def kill(self) -> None:
        """Abrupt end, as a crashed task: SIGKILL by PID, no goodbye to the clients."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.process = None

    def stop(self) -> None:
        """Graceful end, as ECS stopping a task: SIGTERM by PID, SIGKILL if it does not leave in time."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
        self.process = None

    def close(self) -> None:
        """Stop the worker and let go of its log file."""
        self.stop()
        self.stderr.close()


def test_page_loads_only_its_own_files_and_never_parses_user_html() -> None:
    html = (STATIC / "index.html").read_text()
    refs = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert refs, "the page references its script and style"
    for ref in refs:
        assert ref.startswith("/static/") or ref.startswith("data:"), f"not same-origin: {ref}"
        if ref.startswith("/static/"):
            assert (STATIC / ref.removeprefix("/static/")).is_file(), f"missing file: {ref}"
    for script in STATIC.glob("*.js"):
        source = script.read_text()
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
            assert sink not in source, f"{script.name} uses {sink}"


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    if not CHROMIUM.exists():
        missing(f"Chromium is not installed at {CHROMIUM} (apt-get install -y chromium)")
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture
def chat_server() -> Iterator[ChatProcess]:
    server = ChatProcess()
    server.start()
    try:
        yield server
    finally:
        server.close()


class Person:
    """One browser context (its own cookies and storage) with the chat page open; records dialogs."""

    def __init__(self, browser: Browser, url: str) -> None:
        self.context: BrowserContext = browser.new_context()
        self.page: Page = self.context.new_page()
        self.name = ""
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        self.page.on("dialog", self._on_dialog)
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.goto(url)

    def _on_dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def log_in(self, name: str) -> None:
        self.name = name
        expect(self.page.get_by_label("What's your nickname?")).to_be_visible()
        self.page.get_by_label("What's your nickname?").fill(name)
        self.page.get_by_label("What's your nickname?").press("Enter")
        expect(self.page.locator("#chat-page")).to_be_visible()

    def type(self, text: str) -> None:
        self.page.get_by_role("textbox", name="Message", exact=True).press_sequentially(text)

    def send(self) -> None:
        self.page.get_by_role("textbox", name="Message", exact=True).press("Enter")

    def line(self, text: str) -> Locator:
        return self.page.locator("#messages li").filter(has_text=text)


@pytest.mark.browser
def test_two_people_chat_see_each_other_typing_and_leaving(
    browser: Browser, chat_server: ChatProcess
) -> None:
    alice = Person(browser, chat_server.url)
    bob = Person(browser, chat_server.url)
    try:
        alice.log_in("alice")
        expect(alice.page.locator("#participants")).to_have_text("there's 1 participant")
        bob.log_in("bob")
        expect(bob.page.locator("#participants")).to_have_text("there are 2 participants")
        expect(alice.page.locator("#participants")).to_have_text("there are 2 participants")
        expect(alice.line("bob joined")).to_have_count(1)

        bob.type("hello alice")
        typing = alice.page.locator("#messages li.typing")
        expect(typing).to_have_text("bob" + "is typing")
        expect(typing).to_have_count(0)  # 400 ms after the last key: `stop typing`
        bob.send()
        expect(alice.page.locator("#messages li.message").last).to_have_text("bob" + "hello alice")

        alice.type(HOSTILE)
        alice.send()
        shown = bob.page.locator("#messages li.message .messageBody").last
        expect(shown).to_have_text(HOSTILE)  # literal text, both on bob's page...
        expect(alice.page.locator("#messages li.message .messageBody").last).to_have_text(
            HOSTILE
        )  # ...and hers
        for person in (alice, bob):
            assert person.page.locator("#messages img, #messages script").count() == 0
            assert person.dialogs == []

        colour = alice.page.locator("#messages li.message .username").filter(has_text="bob").first
        expect(colour).to_have_css("color", re.compile(r"rgb\(\d+, \d+, \d+\)"))

        bob.context.close()
        expect(alice.line("bob left")).to_have_count(1)
        expect(alice.page.locator("#participants")).to_have_text("there's 1 participant")
        assert alice.errors == [] and bob.errors == []
    finally:
        alice.context.close()
        bob.context.close()


@pytest.mark.browser
def test_server_refusals_are_shown_as_notices(browser: Browser, chat_server: ChatProcess) -> None:
    carol = Person(browser, chat_server.url)
    try:
        notice = carol.page.get_by_role("alert")
        expect(carol.page.locator("#connection")).to_have_text("")
        carol.page.wait_for_function("window.chat.socket.connected")
        # A message before `add user`: the server answers with an `error` event and a refusing ack.
        ack = carol.page.evaluate(
            "() => new Promise((resolve) => window.chat.socket.emit('new message', 'too early', resolve))"
        )
        assert ack["ok"] is False and ack["error"]
        expect(notice).to_contain_text("error")
        # A name over 32 characters (the input's maxlength stops typing one) is refused too.
        ack = carol.page.evaluate(
            "() => new Promise((resolve) => window.chat.socket.emit('add user', 'x'.repeat(33), resolve))"
        )
        assert ack["ok"] is False
        carol.log_in("carol")
        expect(carol.page.locator("#participants")).to_have_text("there's 1 participant")
    finally:
        carol.context.close()


@pytest.mark.browser
def test_pages_reconnect_and_rejoin_after_the_worker_dies(browser: Browser, chat_server: ChatProcess) -> None:
    alice = Person(browser, chat_server.url)
    bob = Person(browser, chat_server.url)
    try:
        alice.log_in("alice")
        bob.log_in("bob")
        expect(alice.page.locator("#participants")).to_have_text("there are 2 participants")

        chat_server.kill()  # a crashed task: the embedded Redis, and so all presence, dies with it
        for person in (alice, bob):
            expect(person.line("you have been disconnected")).to_have_count(1)
        chat_server.start()  # a replacement task on the same address

        for person in (alice, bob):
            expect(person.line("reconnected")).to_have_count(1, timeout=15_000)
            expect(person.page.locator("#participants")).to_have_text("there are 2 participants")
        # The server knows bob's name again only because the page re-sent `add user`.
        bob.type("still here")
        bob.send()
        expect(alice.page.locator("#messages li.message").last).to_have_text("bob" + "still here")
        expect(bob.page.locator("#messages li.error")).to_have_count(0)
    finally:
        alice.context.close()
        bob.context.close()


@pytest.mark.browser
@pytest.mark.slow
def test_a_silent_worker_is_noticed_and_the_sessions_recovered(browser: Browser) -> None:
    server = ChatProcess(env={"PING_INTERVAL": "1", "PING_TIMEOUT": "1"})
    server.start()
    alice = Person(browser, server.url)
    bob = Person(browser, server.url)
    try:
        alice.log_in("alice")
        bob.log_in("bob")
        for person, other, text in ((alice, bob, "hi bob"), (bob, alice, "hi alice")):
            person.type(text)
            person.send()
            expect(other.page.locator("#messages li.message").last).to_have_text(person.name + text)
        alice.page.wait_for_timeout(3000)  # several heartbeats: the page answers every ping
        expect(alice.line("you have been disconnected")).to_have_count(0)
        joins = {
            person.name: person.page.locator("#messages li").filter(has_text=" joined").count()
            for person in (alice, bob)
        }

        server.pause()  # TCP stays up, but no ping arrives within pingInterval + pingTimeout
        for person in (alice, bob):
            expect(person.line("you have been disconnected")).to_have_count(1, timeout=15_000)
        server.resume()
        for person in (alice, bob):
            expect(person.line("reconnected")).to_have_count(1, timeout=15_000)
        # Recovered, not re-joined: the worker kept both names, and nobody was told anyone left or joined.
        bob.type("back again")
        bob.send()
        expect(alice.page.locator("#messages li.message").last).to_have_text("bob" + "back again")
        for person in (alice, bob):
            expect(person.page.locator("#messages li").filter(has_text=" joined")).to_have_count(
                joins[person.name]
            )
            expect(person.page.locator("#messages li").filter(has_text=re.compile(" left$"))).to_have_count(0)
        expect(alice.page.locator("#participants")).to_have_text("there are 2 participants")
    finally:
        alice.context.close()
        bob.context.close()
        server.resume()
        server.close()


@pytest.mark.browser
def test_a_message_refused_for_good_is_marked_on_its_own_line(browser: Browser) -> None:
    server = ChatProcess(env={"MAX_MESSAGE_LENGTH": "10"})
    server.start()
    dan = Person(browser, server.url)
    try:
        dan.log_in("dan")
        dan.type("this is far too long")
        dan.send()
        refused = dan.page.locator("#messages li.message.not-sent")
        expect(refused).to_have_count(1)
        expect(refused.locator(".not-sent-reason")).to_have_text(
            "not sent: message is longer than 10 characters"
        )
        dan.type("short")
        dan.send()
        expect(dan.page.locator("#messages li.message").last).to_have_text("dan" + "short")
        expect(dan.page.locator("#messages li.message.not-sent")).to_have_count(1)
    finally:
        dan.context.close()
        server.close()


@pytest.mark.browser
@pytest.mark.slow
def test_the_page_retries_a_login_and_a_message_refused_while_redis_was_unreachable(
    browser: Browser, private_redis: Any, key_prefix: str
) -> None:
    """Redis frozen: the worker answers `add user` and `new message` with a retryable refusal once
    PUBLISH_TIMEOUT has passed; the page sends them again until they go through, and nothing is shown twice."""
    server = ChatProcess(
        env={"REDIS_URL": private_redis.url, "REDIS_KEY_PREFIX": key_prefix, "PUBLISH_TIMEOUT": "1"}
    )
    server.start()
    erin, frank = Person(browser, server.url), Person(browser, server.url)
    try:
        frank.log_in("frank")
        private_redis.process.send_signal(signal.SIGSTOP)
        try:
            erin.page.get_by_label("What's your nickname?").fill("erin")
            erin.page.get_by_label("What's your nickname?").press("Enter")
            expect(erin.page.locator("#login-notice")).to_contain_text("retrying", timeout=15_000)
        finally:
            private_redis.process.send_signal(signal.SIGCONT)
        expect(erin.page.locator("#chat-page")).to_be_visible(timeout=15_000)
        erin.name = "erin"
        private_redis.process.send_signal(signal.SIGSTOP)
        try:
            erin.type("sent in the outage")
            erin.send()
            expect(erin.page.locator("#messages li.message.retrying")).to_have_count(1, timeout=15_000)
        finally:
            private_redis.process.send_signal(signal.SIGCONT)
        expect(frank.page.locator("#messages li.message").last).to_have_text("erin" + "sent in the outage")
        expect(erin.page.locator("#messages li.message.retrying")).to_have_count(0)
        frank.page.wait_for_timeout(500)  # a duplicate would arrive now
        expect(frank.page.locator("#messages li.message")).to_have_count(1)
        expect(erin.page.locator("#messages li.error")).to_have_count(0)
    finally:
        erin.context.close()
        frank.context.close()
        server.close()
