// Entry point of the lab page, the session status page and the dashboard.
// Each part looks for its own markup, so one bundle serves all three.
import { mountTerminal, type MountedTerminal, type ShellEvent } from "./terminal";

const csrf = document.querySelector<HTMLMetaElement>('meta[name="csrf-token"]')?.content ?? "";

async function post(url: string): Promise<Response> {
  return fetch(url, { method: "POST", headers: { "X-CSRF-Token": csrf } });
}

function formatSeconds(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${rest}` : `${m}:${rest}`;
}

// -- click-to-run blocks' state: running, then done or failed -----------------

/** The blocks typed into one terminal, oldest first, each resolved when bash has read all its lines. */
class RunningBlocks {
  private queue: { element: HTMLElement; prompts: number }[] = [];
  private status: number | null = null;

  add(element: HTMLElement, prompts: number): void {
    element.dataset.state = "running";
    element.removeAttribute("data-exit-status");
    this.queue.push({ element, prompts });
  }

  handle(event: ShellEvent): void {
    if (event.kind === "reconnected") {
      // What was typed before the connection dropped may or may not have run.
      for (const { element } of this.queue) delete element.dataset.state;
      this.queue = [];
    } else if (event.kind === "finished") {
      this.status = event.status;
    } else {
      const head = this.queue[0];
      if (!head || --head.prompts > 0) return;
      this.queue.shift();
      const failed = event.kind === "prompt" && this.status !== null && this.status !== 0;
      head.element.dataset.state = failed ? "failed" : "done";
      if (failed) head.element.dataset.exitStatus = String(this.status);
      head.element.title = failed ? `Ran; it exited with status ${this.status}` : "Ran";
    }
  }
}

// -- the workspace: terminals, app tabs, click-to-run, Check, countdown ------

function workspace(root: HTMLElement): void {
  const session = root.dataset.session!;
  const panes = root.querySelector<HTMLElement>(".panes")!;
  const tabs = root.querySelector<HTMLElement>(".tabs")!;
  const terminals = new Map<number, MountedTerminal>();
  const running = new Map<number, RunningBlocks>();

  const show = (id: string) => {
    for (const pane of panes.querySelectorAll<HTMLElement>(".pane")) pane.hidden = pane.id !== id;
    for (const tab of tabs.querySelectorAll<HTMLElement>(".tab[data-pane]"))
      tab.classList.toggle("active", tab.dataset.pane === id);
    const pane = document.getElementById(id);
    if (pane?.dataset.appUrl && !pane.querySelector("iframe")) {
      const frame = document.createElement("iframe");
      frame.src = pane.dataset.appUrl;
      frame.title = "The lab's app";
      pane.append(frame);
    }
    const number = Number(id.replace("terminal-", ""));
    terminals.get(number)?.terminal.focus();
  };

  const terminal = (number: number): MountedTerminal => {
    let mounted = terminals.get(number);
    if (mounted) return mounted;
    let pane = document.getElementById(`terminal-${number}`);
    if (!pane) {
      pane = document.createElement("div");
      pane.className = "pane terminal";
      pane.id = `terminal-${number}`;
      pane.dataset.terminalUrl = `/sessions/${session}/terminals/${number}`;
      panes.querySelector(".expiry-warning")!.after(pane);
      const tab = document.createElement("button");
      tab.type = "button";
      tab.className = "tab";
      tab.setAttribute("role", "tab");
      tab.dataset.pane = pane.id;
      tab.textContent = `Terminal ${number}`;
      tabs.querySelector<HTMLElement>('[data-action="add-terminal"]')!.before(tab);
    }
    pane.hidden = false;
    mounted = mountTerminal(pane, pane.dataset.terminalUrl!);
    const blocks = new RunningBlocks();
    mounted.onShellEvent((event) => blocks.handle(event));
    running.set(number, blocks);
    terminals.set(number, mounted);
    return mounted;
  };
  terminal(1);
  show("terminal-1");

  tabs.addEventListener("click", (event) => {
    const tab = (event.target as HTMLElement).closest<HTMLElement>(".tab");
    if (!tab) return;
    if (tab.dataset.action === "add-terminal") {
      const next = [1, 2, 3, 4].find((number) => !terminals.has(number));
      if (next === undefined) return; // four at most, as the server allows
      terminal(next);
      show(`terminal-${next}`);
    } else if (tab.dataset.pane) {
      show(tab.dataset.pane);
    }
  });

  // Click-to-run: inline `cmd`{{exec}} and whole fenced blocks.
  root.addEventListener("click", (event) => {
    const target = (event.target as HTMLElement).closest<HTMLElement>('[data-action="run"]');
    if (!target || (event.target as HTMLElement).closest("button.copy")) return;
    const number = Math.min(Math.max(Number(target.dataset.terminal ?? "1") || 1, 1), 4);
    const code = (target.querySelector("pre code") ?? target).textContent ?? "";
    const mounted = terminal(number);
    show(`terminal-${number}`);
    let text = code.replace(/\n$/, "");
    if (target.hasAttribute("data-ctrl-seq")) text = ctrlSequence(text);
    else if (target.dataset.newline !== "false") text += "\r";
    const interrupt = target.hasAttribute("data-interrupt");
    if (interrupt) mounted.send("\x03");
    text = text.replace(/\n/g, "\r");
    mounted.send(text);
    target.classList.add("ran");
    // Each line typed gets a prompt back once bash has read it (Ctrl-C one more).
    const lines = (text.match(/\r/g) ?? []).length + (interrupt ? 1 : 0);
    if (lines > 0) running.get(number)!.add(target, lines);
  });

  // Check.
  const panel = root.querySelector<HTMLElement>(".check-panel");
  panel?.querySelector<HTMLButtonElement>('[data-action="check"]')?.addEventListener("click", async (event) => {
    const button = event.currentTarget as HTMLButtonElement;
    const list = panel.querySelector<HTMLElement>(".check-results")!;
    button.disabled = true;
    button.textContent = "Checking…";
    list.replaceChildren();
    try {
      const response = await post(`/api/sessions/${session}/check/${panel.dataset.step}`);
      const body = await response.json();
      if (!response.ok) throw new Error(body.detail ?? response.statusText);
      for (const result of body.results as { name: string; passed: boolean; observed: string; hint: string }[]) {
        const item = document.createElement("li");
        item.className = result.passed ? "passed" : "failed";
        item.append(`${result.passed ? "✓" : "✗"} ${result.name}: ${result.observed}`);
        if (!result.passed && result.hint) {
          const hint = document.createElement("div");
          hint.className = "hint";
          hint.textContent = `Hint: ${result.hint}`;
          item.append(hint);
        }
        list.append(item);
      }
      panel.classList.toggle("passed", body.passed);
      updateProgress(root, body.done.length, body.total);
    } catch (error) {
      const item = document.createElement("li");
      item.className = "failed";
      item.textContent = `Check could not run: ${(error as Error).message}`;
      list.append(item);
    } finally {
      button.disabled = false;
      button.textContent = "Check";
    }
  });

  // Countdown, warning, extend, stop, reset.
  const countdown = root.querySelector<HTMLElement>(".countdown")!;
  const warning = root.querySelector<HTMLElement>(".expiry-warning")!;
  const ended = root.querySelector<HTMLElement>(".session-ended")!;
  const warnSeconds = Number(root.dataset.warnSeconds ?? "300");
  let deadline = Date.now() + Number(root.dataset.expiresIn ?? "0") * 1000;
  const sync = (body: { state: string; expires_in: number }) => {
    deadline = Date.now() + body.expires_in * 1000;
    if (body.state !== "ready") finish();
  };
  const finish = () => {
    window.clearInterval(ticker);
    window.clearInterval(poller);
    ended.hidden = false;
    countdown.textContent = "ended";
    for (const [, mounted] of terminals) mounted.dispose();
  };
  const tick = () => {
    const left = (deadline - Date.now()) / 1000;
    countdown.textContent = formatSeconds(left);
    warning.hidden = left > warnSeconds;
    countdown.classList.toggle("warn", left <= warnSeconds);
  };
  const ticker = window.setInterval(tick, 1000);
  tick();
  const poller = window.setInterval(async () => {
    const response = await fetch(`/api/sessions/${session}`);
    if (response.ok) sync(await response.json());
  }, 15_000);

  root.addEventListener("click", async (event) => {
    const button = (event.target as HTMLElement).closest<HTMLElement>("[data-action]");
    const action = button?.dataset.action;
    if (action === "extend") {
      const response = await post(`/api/sessions/${session}/extend`);
      if (response.ok) sync(await response.json());
      tick();
    } else if (action === "stop") {
      if (!window.confirm("Stop this session? Its cluster is deleted; your progress stays.")) return;
      const response = await post(`/api/sessions/${session}/stop`);
      if (response.ok) finish();
    } else if (action === "reset") {
      if (!window.confirm("Start over with a fresh cluster? Your progress stays.")) return;
      const response = await post(`/api/sessions/${session}/reset`);
      const body = await response.json();
      if (response.ok) window.location.href = body.status_url;
      else window.alert(body.error ?? "Reset failed");
    } else if (action === "reload-app") {
      const frame = button!.closest(".pane")?.querySelector("iframe");
      if (frame) frame.src = frame.src;
    }
  });
}

/** Katacoda's ctrl-seq: `^C` style text sends the control character itself. */
function ctrlSequence(text: string): string {
  return text.replace(/\^([@A-Z[\\\]^_])/gi, (_, key: string) =>
    String.fromCharCode(key.toUpperCase().charCodeAt(0) - 64),
  );
}

function updateProgress(root: HTMLElement, done: number, total: number): void {
  const bar = root.querySelector<HTMLElement>(".progress");
  if (bar) {
    bar.setAttribute("aria-valuenow", String(done));
    bar.querySelector<HTMLElement>(".progress-bar")!.style.width = `${Math.round((done * 100) / Math.max(total, 1))}%`;
  }
  const count = root.querySelector<HTMLElement>('[data-testid="done-count"]');
  if (count) count.textContent = `${done} of ${total} steps done`;
}

// -- the status page of a starting session -----------------------------------

function statusPage(root: HTMLElement): void {
  const session = root.dataset.session!;
  const log = root.querySelector<HTMLElement>(".start-log")!;
  const message = root.querySelector<HTMLElement>('[data-testid="session-message"]')!;
  const poll = async () => {
    const response = await fetch(`/api/sessions/${session}`);
    if (!response.ok) return;
    const body = await response.json();
    message.textContent = body.message;
    log.replaceChildren(
      ...(body.progress as string[]).map((line) => Object.assign(document.createElement("li"), { textContent: line })),
    );
    root.dataset.state = body.state;
    if (body.state === "ready") window.location.href = body.lab_url;
    else if (body.state === "starting") window.setTimeout(poll, 700);
    else window.location.reload();
  };
  if (root.dataset.state === "starting") window.setTimeout(poll, 300);
}

// -- live fragments (the dashboard) ------------------------------------------

function liveFragment(root: HTMLElement): void {
  const interval = Number(root.dataset.interval ?? "5000");
  window.setInterval(async () => {
    const response = await fetch(root.dataset.liveFragment!);
    if (response.ok) root.innerHTML = await response.text();
  }, interval);
}

const root = document.querySelector<HTMLElement>(".workspace.with-session[data-state='ready']");
if (root) workspace(root);
const status = document.querySelector<HTMLElement>(".session-status");
if (status) statusPage(status);
for (const fragment of document.querySelectorAll<HTMLElement>("[data-live-fragment]")) liveFragment(fragment);
